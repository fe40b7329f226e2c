package programtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrFailed is returned (wrapped) when a test fails: the command exits 1.
var ErrFailed = errors.New("tests failed")

const usage = `Usage: cxloop test FILE|FOLDER...

Runs program unit tests: each YAML file names the program's manifests, a
start time, responses and clock advances, and the Cases and notifications
that must follow (see "Test a program: cxloop test" in the README). The
program is validated first, then run with the collector's rule evaluation
and the manager's Case planner, with no cluster. A failure lists every
difference. A folder runs its *.yaml files.

Exit status: 0 when every test passes, 1 otherwise.
`

// Command runs `cxloop test`.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("test: name a test file or folder")
	}
	var files []string
	for _, p := range fs.Args() {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("test: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(p, "*.yaml"))
		sort.Strings(matches)
		files = append(files, matches...)
	}
	passed, failed := 0, 0
	for _, f := range files {
		results, err := RunFile(ctx, f)
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %s\n  %s\n", f, strings.ReplaceAll(err.Error(), "\n", "\n  "))
			failed++
			continue
		}
		for _, r := range results {
			if len(r.Failures) == 0 {
				fmt.Fprintf(stdout, "ok   %s: %s\n", f, r.Name)
				passed++
				continue
			}
			failed++
			fmt.Fprintf(stdout, "FAIL %s: %s\n", f, r.Name)
			for _, d := range r.Failures {
				fmt.Fprintf(stdout, "  %s\n", d)
			}
		}
	}
	fmt.Fprintf(stderr, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("test: %w: %d of %d", ErrFailed, failed, passed+failed)
	}
	return nil
}
