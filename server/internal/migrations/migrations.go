// Package migrations reads a store's numbered migration files. Each store
// keeps its own folder and runner (SQL dialects differ); what a migration
// file is, and the rules its name follows, are the same for all.
package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
)

// File is one migration: its number, file name and SQL.
type File struct {
	N    int
	Name string
	SQL  string
}

// Load reads dir's *.sql files in order of number. A name must start with a
// 4-digit number greater than zero, and no two files may share one.
func Load(fsys fs.FS, dir string) ([]File, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var all []File
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		var n int
		if _, err := fmt.Sscanf(base, "%04d_", &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a 4-digit number", base)
		}
		if other, dup := seen[n]; dup {
			return nil, fmt.Errorf("migrations %s and %s share number %d", other, base, n)
		}
		seen[n] = base
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		all = append(all, File{N: n, Name: base, SQL: string(b)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].N < all[j].N })
	return all, nil
}
