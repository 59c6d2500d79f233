// Command template starts a plugin repository of your own from this
// checkout of the lab, with gonew (golang.org/x/tools/cmd/gonew, pinned in
// go.mod's tools): it serves the checkout as a module from a file-system
// GOPROXY in a temporary directory (golang.org/x/mod/zip), so that it works
// offline and whether or not the lab's module path resolves anywhere, then
// runs gonew, which copies the module into dest and rewrites its module
// path and imports to yours. `make gonew` runs it:
//
//	go run ./plugin-server/internal/devtools/template -module example.com/you/yourplugin -dest ../yourplugin
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/mod/module"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "template:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("template", flag.ContinueOnError)
	dest := fs.String("dest", "", "directory of the new repository (must not exist)")
	mod := fs.String("module", "", "module path of the new repository, e.g. example.com/you/yourplugin")
	root := fs.String("root", ".", "the lab's checkout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dest == "" || *mod == "" {
		return errors.New("want -module and -dest (make gonew MODULE=example.com/you/yourplugin DEST=../yourplugin)")
	}
	return New(*root, *mod, *dest, os.Stdout, os.Stderr)
}

// New copies the lab at root into dest as the module mod, with gonew.
func New(root, mod, dest string, stdout, stderr io.Writer) error {
	if err := module.CheckPath(mod); err != nil {
		return fmt.Errorf("module path %q: %w", mod, err)
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("%s exists: gonew wants a new directory", dest)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	dest, err = filepath.Abs(dest)
	if err != nil {
		return err
	}
	proxy, err := os.MkdirTemp("", "lab-goproxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(proxy)
	src, err := WriteProxy(proxy, root)
	if err != nil {
		return err
	}
	// gonew, built as go.mod pins it, from the lab's module cache.
	gonew := filepath.Join(proxy, "gonew")
	build := exec.Command("go", "build", "-o", gonew, "golang.org/x/tools/cmd/gonew")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building gonew: %v\n%s", err, out)
	}
	// It downloads the checkout from the proxy into a module cache of its
	// own, removed afterwards: the user's cache never holds a copy of the
	// checkout that a later run (of a changed checkout) would be served.
	modcache := filepath.Join(proxy, "modcache")
	env := append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy),
		"GOMODCACHE="+modcache,
		"GOSUMDB=off",      // a local module, in no checksum database
		"GOFLAGS=-mod=mod", // gonew's go mod download, not a vendor directory
		"GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=",
	)
	defer func() {
		clean := exec.Command("go", "clean", "-modcache")
		clean.Env = env
		clean.Run() // the cache is read-only; go clean makes it removable
	}()
	cmd := exec.Command(gonew, src+"@"+Version, mod, dest)
	cmd.Dir = proxy
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gonew %s@%s %s %s: %w", src, Version, mod, dest, err)
	}
	if err := keepExecutable(root, dest); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "template: %s is %s, from the lab at %s; next: cd %s && make up && go test ./...\n", dest, mod, root, dest)
	return nil
}

// keepExecutable gives the copy's files back the executable bit their
// originals in the checkout have, which a module zip does not keep (the
// Makefile runs the scripts with bash regardless).
func keepExecutable(root, dest string) error {
	return filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dest, p)
		if err != nil {
			return err
		}
		fi, err := os.Lstat(filepath.Join(root, rel))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return nil // new in the copy, or not executable
		}
		return os.Chmod(p, 0o755)
	})
}
