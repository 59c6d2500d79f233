package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// Version is the version the file-system proxy serves the checkout as.
const Version = "v0.0.0-local"

// WriteProxy lays out, under dir, a file-system GOPROXY (GOPROXY=file://dir)
// that serves the module of the checkout at root as Version: its list,
// .info, .mod and .zip. The zip holds what git would commit (tracked files
// and untracked ones not ignored, as on disk now), or, outside git, every
// file under root; either way as the go command packs a module (no nested
// modules, no vendor directory). It returns the module's path.
func WriteProxy(dir, root string) (string, error) {
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("%s is no Go module: %w", root, err)
	}
	path := modfile.ModulePath(gomod)
	if path == "" {
		return "", fmt.Errorf("%s/go.mod names no module", root)
	}
	m := module.Version{Path: path, Version: Version}
	esc, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	at := filepath.Join(dir, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return "", err
	}
	files, err := checkoutFiles(root)
	if err != nil {
		return "", err
	}
	var zbuf bytes.Buffer
	if files == nil {
		err = zip.CreateFromDir(&zbuf, m, root)
	} else {
		err = zip.Create(&zbuf, m, files)
	}
	if err != nil {
		return "", fmt.Errorf("packing %s as a module: %w", root, err)
	}
	info := fmt.Sprintf(`{"Version":%q,"Time":%q}`, Version, time.Now().UTC().Format(time.RFC3339))
	for name, data := range map[string][]byte{
		"list":            []byte(Version + "\n"),
		Version + ".info": []byte(info),
		Version + ".mod":  gomod,
		Version + ".zip":  zbuf.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
			return "", err
		}
	}
	return path, nil
}

// checkoutFiles lists what git would commit under root, as files for
// zip.Create; nil outside a git work tree.
func checkoutFiles(root string) ([]zip.File, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || errors.Is(err, exec.ErrNotFound) {
			return nil, nil // not a git work tree, or no git: every file
		}
		return nil, fmt.Errorf("git ls-files: %v: %s", err, stderr.String())
	}
	var files []zip.File
	for _, name := range strings.Split(string(out), "\x00") {
		if name == "" {
			continue
		}
		full := filepath.Join(root, filepath.FromSlash(name))
		if _, err := os.Lstat(full); errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree, not yet in the index
		}
		files = append(files, diskFile{slash: name, path: full})
	}
	return files, nil
}

type diskFile struct{ slash, path string }

func (f diskFile) Path() string                 { return f.slash }
func (f diskFile) Lstat() (os.FileInfo, error)  { return os.Lstat(f.path) }
func (f diskFile) Open() (io.ReadCloser, error) { return os.Open(f.path) }
