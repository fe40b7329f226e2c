package programcheck

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cxloop/cxloop/internal/manifest"
)

// Output formats.
const (
	FormatText   = "text"
	FormatJSON   = "json"
	FormatGitHub = "github"
)

// ErrProblems is returned (wrapped) when the program has problems: the
// command exits 1.
var ErrProblems = errors.New("the program has problems")

// files is a repeatable -f flag.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

const usage = `Usage: cxloop validate -f PATH [-f PATH...] [-R] [-n NAMESPACE] [-o text|json|github]

Checks a CX program without a cluster, as applying it would: every
document against the CRD schemas and their CEL rules (the same validation
code as the API server, so the messages are kubectl apply's), in order, a
later document with the same kind and name being an update of the earlier
one; then the checks the controllers run (rule expressions compiled against
each selected touchpoint's questions, references between objects, cron
schedules and time zones, root causes against templates).

PATH is a file, a folder (its .yaml/.yml/.json files; -R for subfolders), a
folder with a kustomization.yaml (its resources, in order), or - for stdin
(for example: kustomize build overlays/prod | cxloop validate -f -).

Exit status: 0 when valid, 1 on any problem or error.

Flags:
`

// Command runs `cxloop validate`.
func Command(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	paths := make(files, 0, len(args))
	fs.Var(&paths, "f", "file, folder, kustomization folder or - (stdin); repeatable")
	recursive := fs.Bool("R", false, "read folders recursively")
	namespace := fs.String("n", "", `namespace of objects that set none (as kubectl apply -n; default "default")`)
	output := fs.String("o", FormatText, "output: text (file:line: Kind/name: field: message), json, or github (GitHub Actions annotations)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	paths = append(paths, fs.Args()...)
	if len(paths) == 0 {
		fs.Usage()
		return errors.New("validate: no input: pass -f PATH (a file, folder, or - for stdin)")
	}
	switch *output {
	case FormatText, FormatJSON, FormatGitHub:
	default:
		return fmt.Errorf("validate: -o %q: use text, json or github", *output)
	}
	docs, err := manifest.Load(paths, stdin, *recursive)
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	res, err := Check(ctx, docs, Options{Namespace: *namespace})
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	if err := Print(stdout, res, *output); err != nil {
		return err
	}
	if len(res.Findings) > 0 {
		if *output != FormatJSON {
			fmt.Fprintf(stderr, "%d problem(s) in %d cxloop object(s)\n", len(res.Findings), res.Objects)
		}
		return fmt.Errorf("validate: %w: %d problem(s)", ErrProblems, len(res.Findings))
	}
	if *output == FormatText {
		fmt.Fprintf(stderr, "%d cxloop object(s) valid\n", res.Objects)
	}
	return nil
}

// Print writes res in a format.
func Print(w io.Writer, res Result, format string) error {
	switch format {
	case FormatJSON:
		if res.Findings == nil {
			res.Findings = []Finding{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case FormatGitHub:
		for _, f := range res.Findings {
			title := f.Kind + "/" + f.Name
			msg := f.Message
			if f.Field != "" {
				msg = f.Field + ": " + msg
			}
			if _, err := fmt.Fprintf(w, "::error file=%s,line=%d,title=%s::%s\n",
				escapeProperty(f.File), f.Line, escapeProperty(title), escapeData(msg)); err != nil {
				return err
			}
		}
		return nil
	default:
		for _, f := range res.Findings {
			if _, err := fmt.Fprintln(w, f.String()); err != nil {
				return err
			}
		}
		return nil
	}
}

// escapeData and escapeProperty escape workflow-command values as the
// GitHub Actions toolkit does (@actions/core command.ts).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
