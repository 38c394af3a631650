package config

import (
	"os"
	"path/filepath"
	"strings"
)

// Within reports whether path is dir or lies under it once both are made
// absolute and every symbolic link in them is resolved — a keyset reached
// through a link into the data directory is inside it. For a path that does
// not exist yet, its deepest existing ancestor is resolved and the rest
// appended.
func Within(dir, path string) (bool, error) {
	d, err := resolve(dir)
	if err != nil {
		return false, err
	}
	p, err := resolve(path)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)), nil
}

// resolve resolves p as the system would open it: component by component,
// each symbolic link followed before a later ".." applies to where it led
// (filepath.Abs would clean "link/.." away first, and so be fooled). What
// does not exist yet is appended as written.
func resolve(p string) (string, error) {
	if !filepath.IsAbs(p) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		p = wd + string(filepath.Separator) + p
	}
	parts := strings.Split(p, string(filepath.Separator))
	cur := string(filepath.Separator)
	for i, part := range parts {
		switch part {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, part)
		real, err := filepath.EvalSymlinks(next)
		if os.IsNotExist(err) {
			return filepath.Join(append([]string{next}, parts[i+1:]...)...), nil
		}
		if err != nil {
			return "", err
		}
		cur = real
	}
	return cur, nil
}
