package main

import (
	"fmt"
	"math/rand/v2"
)

// castOptions say who takes part in release-storm (flags of the same names).
type castOptions struct {
	People     int
	Families   float64 // share of people binding 2 to 4 family members on one account
	NightOwls  float64 // share of people who bind (once) at night
	SharedWiFi float64 // share of people behind a shared Wi-Fi's address prefix
	WiFis      int     // how many shared prefixes (a hospital's, a housing block's)
	Cancellers float64 // share of people who cancel a place they won
	Groups     int     // scalper groups, each on its own prefix
	Phones     int     // phones (devices) per group
	Accounts   int     // accounts per group
	Customers  int     // customers' identities each scalper account binds a night
	Seed       uint64
}

// actor is one simulated account and how it behaves: the pure part of a
// person or a scalper account, before it has a client.
type actor struct {
	Class    string  // "people" or "group N"
	Group    int     // -1 for people
	Index    int     // the account's number among all
	Patients int     // identities bound at first: a person's family, a scalper's customers
	Night    bool    // binds at night (1 a.m.) rather than in the evening
	Net      [3]byte // its loopback address 127.a.b.c
	WiFi     int     // people: the shared Wi-Fi it is behind, or -1
	Phone    int     // scalpers: the phone it is signed in on the first day; the next, the group's next phone
	Cancels  bool    // people: cancels a place it won
	// Payer is the wallet account it pays with, which the sandbox is told
	// with each payment (it stands in for the wallet app): a person's own,
	// a scalper group's one for all its accounts — the group pays for its
	// customers' places itself, and is paid back off the books.
	Payer string
}

// Scalper reports whether the actor is a scalper group's account.
func (a actor) Scalper() bool { return a.Group >= 0 }

// cast draws who takes part, as in incident I1: people, most with one
// patient, some families of 2 to 4 on one account, some night owls who
// bind once at night, many behind a shared Wi-Fi; scalper groups of about
// 10 phones and 30 accounts each on their own network, every account
// binding customers' identities at 1 a.m.; each person pays from their own
// wallet, each group from one wallet for all its accounts.
func cast(o castOptions) []actor {
	rnd := rand.New(rand.NewPCG(o.Seed, 17))
	var out []actor
	wifi := 0
	for i := range o.People {
		a := actor{Class: "people", Group: -1, Index: i, Patients: 1, WiFi: -1, Phone: -1,
			Net: [3]byte{byte(20 + i/256), byte(i % 256), 1}, Payer: fmt.Sprintf("sim-wallet-person-%d", i)}
		if rnd.Float64() < o.Families {
			a.Patients = 2 + rnd.IntN(3)
		}
		a.Night = rnd.Float64() < o.NightOwls
		if o.WiFis > 0 && rnd.Float64() < o.SharedWiFi {
			// Each shared prefix in turn, every device its own address on it.
			a.WiFi = wifi % o.WiFis
			a.Net = [3]byte{byte(200 + a.WiFi), 0, byte(1 + (wifi/o.WiFis)%250)} // one /24: 127.200+k.0.x
			wifi++
		}
		a.Cancels = rnd.Float64() < o.Cancellers
		out = append(out, a)
	}
	for g := range o.Groups {
		for k := range o.Accounts {
			out = append(out, actor{Class: fmt.Sprintf("group %d", g+1), Group: g, Index: len(out), Patients: o.Customers, Night: true,
				Net: [3]byte{10, byte(g), byte(1 + k%250)}, WiFi: -1, Phone: k % max(o.Phones, 1), Payer: fmt.Sprintf("sim-wallet-group-%d", g+1)})
		}
	}
	return out
}
