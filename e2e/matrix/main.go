// Command matrix runs the e2e suite once per gateway image and prints a
// compatibility table: test × gateway version, each cell pass, FAIL or
// skip, and under it what each version was asserted to do instead where a
// behaviour depends on the version (see e2e/versions_test.go).
//
//	go run ./e2e/matrix [-images a,b,c]     (make e2e-matrix)
//
// The images default to E2E_GATEWAY_IMAGES from the environment or .env.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// event is a line of `go test -json`.
type event struct {
	Action, Test, Output string
}

// run is one image's results.
type run struct {
	image   string
	results map[string]string // top-level test → pass, FAIL, skip
	notes   []string          // what a version was asserted to do instead
}

func main() {
	images := flag.String("images", defaultImages(), "comma-separated gateway images ($E2E_GATEWAY_IMAGES, else .env)")
	flag.Parse()
	list := strings.FieldsFunc(*images, func(r rune) bool { return r == ',' || r == ' ' })
	if len(list) == 0 {
		fmt.Fprintln(os.Stderr, "matrix: no images: set -images or E2E_GATEWAY_IMAGES")
		os.Exit(2)
	}
	var runs []run
	failed := false
	for _, img := range list {
		fmt.Fprintf(os.Stderr, "== %s: go test ./e2e\n", img)
		r, err := suite(img)
		if err != nil {
			fmt.Fprintf(os.Stderr, "matrix: %s: %v\n", img, err)
			os.Exit(1)
		}
		for _, res := range r.results {
			failed = failed || res == "FAIL"
		}
		runs = append(runs, r)
	}
	printTable(runs)
	if failed {
		os.Exit(1)
	}
}

func defaultImages() string {
	if v := os.Getenv("E2E_GATEWAY_IMAGES"); v != "" {
		return v
	}
	env, _ := dotenv.Read(".env")
	return env["E2E_GATEWAY_IMAGES"]
}

// suite runs the e2e suite against one gateway image.
func suite(image string) (run, error) {
	r := run{image: image, results: map[string]string{}}
	cmd := exec.Command("go", "test", "-count=1", "-json", "-timeout", "25m", "./e2e")
	cmd.Env = append(os.Environ(), "TYK_GATEWAY_IMAGE="+image, "E2E_REQUIRE=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	start := time.Now()
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 4<<20)
	var failedOutput bytes.Buffer
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		top := e.Test != "" && !strings.Contains(e.Test, "/")
		switch {
		case top && e.Action == "pass":
			r.results[e.Test] = "pass"
		case top && e.Action == "fail":
			r.results[e.Test] = "FAIL"
		case top && e.Action == "skip":
			r.results[e.Test] = "skip"
		case e.Action == "output" && strings.Contains(e.Output, "is older than"):
			note := strings.TrimSpace(e.Output)
			if _, after, ok := strings.Cut(note, ": gateway "); ok {
				note = "gateway " + after
			}
			note = e.Test + ": " + note
			if !slices.Contains(r.notes, note) {
				r.notes = append(r.notes, note)
			}
		case e.Action == "output" && e.Test != "":
			failedOutput.WriteString(e.Output)
		}
	}
	err = cmd.Wait()
	fmt.Fprintf(os.Stderr, "   %s in %s (exit %v)\n", image, time.Since(start).Round(time.Second), err)
	if len(r.results) == 0 {
		return r, fmt.Errorf("the suite ran no test: %v\n%s", err, failedOutput.String())
	}
	for name, res := range r.results {
		if res == "FAIL" {
			fmt.Fprintf(os.Stderr, "   %s failed on %s; run TYK_GATEWAY_IMAGE=%s go test -v -run '^%s$' ./e2e for its output\n", name, image, image, name)
		}
	}
	return r, nil
}

func printTable(runs []run) {
	var tests []string
	for _, r := range runs {
		for name := range r.results {
			if !slices.Contains(tests, name) {
				tests = append(tests, name)
			}
		}
	}
	slices.Sort(tests)
	fmt.Printf("\nCompatibility (%s):\n\n| test |", time.Now().UTC().Format("2006-01-02"))
	for _, r := range runs {
		fmt.Printf(" %s |", strings.TrimPrefix(r.image[strings.LastIndex(r.image, "/")+1:], "tyk-gateway:"))
	}
	fmt.Print("\n|---|")
	for range runs {
		fmt.Print("---|")
	}
	fmt.Println()
	for _, name := range tests {
		fmt.Printf("| %s |", name)
		for _, r := range runs {
			res := r.results[name]
			if res == "" {
				res = "—"
			}
			for _, n := range r.notes {
				if strings.HasPrefix(n, name+":") {
					res += "†" // asserted what this older version does instead
					break
				}
			}
			fmt.Printf(" %s |", res)
		}
		fmt.Println()
	}
	fmt.Println("\n† passed asserting what this older version does instead:")
	for _, r := range runs {
		for _, n := range r.notes {
			fmt.Printf("\n- %s: %s", r.image, n)
		}
	}
	fmt.Println()
}
