package storage

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered, forward-only migration file of a backend.
type Migration struct {
	Version int
	Path    string
}

// Migrations lists the files matching glob in fsys (a backend's embedded
// migrations), each named by its number first ("0002_nodes.sql"), in order.
func Migrations(fsys fs.FS, glob string) ([]Migration, error) {
	paths, err := fs.Glob(fsys, glob)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, p := range paths {
		n, err := strconv.Atoi(strings.SplitN(path.Base(p), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", p)
		}
		out = append(out, Migration{n, p})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no migrations match %s", glob)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
