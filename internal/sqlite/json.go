package sqlite

import "encoding/json"

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings only
	}
	return b
}

func unmarshalJSON(s string, v any) error { return json.Unmarshal([]byte(s), v) }
