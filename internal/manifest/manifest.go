package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

// Document is one object of a manifest.
type Document struct {
	// File is the path as given (or "<stdin>").
	File string
	// Line is the line of the document's first field.
	Line int
	// Namespace is the namespace a kustomization sets for the object, when
	// the object sets none.
	Namespace string
	// Object is the object, decoded as kubectl sends it.
	Object *unstructured.Unstructured

	node   *yaml.Node
	offset int
}

// FieldLine is the line of the field at path (as the API server writes
// it: "spec.routes[0].when", "metadata.labels[app]"), or of its closest
// written ancestor, or of the document.
func (d *Document) FieldLine(path string) int {
	n := d.node
	if n == nil {
		return d.Line
	}
	line := n.Line
	for _, step := range splitPath(path) {
		next := child(n, step)
		if next == nil {
			break
		}
		n = next
		line = n.Line
	}
	return line + d.offset
}

// child is the value at one step (a key, or an index in brackets) below n.
func child(n *yaml.Node, step string) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if strings.HasPrefix(step, "[") {
		key := strings.TrimSuffix(strings.TrimPrefix(step, "["), "]")
		if i, err := strconv.Atoi(key); err == nil && n.Kind == yaml.SequenceNode {
			if i >= 0 && i < len(n.Content) {
				return n.Content[i]
			}
			return nil
		}
		step = key
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == step {
			v := n.Content[i+1]
			// Point at the key: the value of a mapping or list starts on
			// the next line.
			if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
				return &yaml.Node{Kind: v.Kind, Content: v.Content, Line: n.Content[i].Line, Alias: v.Alias}
			}
			return v
		}
	}
	return nil
}

var pathStep = regexp.MustCompile(`\[[^\]]*\]|[^.\[]+`)

func splitPath(path string) []string {
	if path == "" || path == "<nil>" {
		return nil
	}
	return pathStep.FindAllString(path, -1)
}

// Load reads every path in order: a file, "-" (stdin), a folder with a
// kustomization (its resources, in order, recursively), or a folder (its
// .yaml, .yml and .json files, sorted; recursively with recursive).
func Load(paths []string, stdin io.Reader, recursive bool) ([]Document, error) {
	l := loader{stdin: stdin, recursive: recursive, seen: map[string]bool{}}
	for _, p := range paths {
		if err := l.path(p, ""); err != nil {
			return l.docs, err
		}
	}
	return l.docs, nil
}

type loader struct {
	stdin     io.Reader
	recursive bool
	seen      map[string]bool
	docs      []Document
}

func (l *loader) path(p, namespace string) error {
	if p == "-" {
		data, err := io.ReadAll(l.stdin)
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		return l.parse("<stdin>", data, namespace)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() && isKustomization(p) {
		return l.kustomization(p, namespace)
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return l.parse(p, data, namespace)
	}
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		k := filepath.Join(p, name)
		if _, err := os.Stat(k); err == nil {
			return l.kustomization(k, namespace)
		}
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		full := filepath.Join(p, e.Name())
		if e.IsDir() {
			if l.recursive {
				if err := l.path(full, namespace); err != nil {
					return err
				}
			}
			continue
		}
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
			data, err := os.ReadFile(full)
			if err != nil {
				return err
			}
			if isProgramTest(data) {
				continue // a `cxloop test` file next to the manifests
			}
			if err := l.parse(full, data, namespace); err != nil {
				return err
			}
		}
	}
	return nil
}

// kustomizeUnsupported are kustomization fields that change the objects;
// their output must be piped in (`kustomize build DIR | cxloop validate
// -f -`) to be validated.
var kustomizeUnsupported = []string{
	"patches", "patchesStrategicMerge", "patchesJson6902", "configMapGenerator", "secretGenerator",
	"generators", "transformers", "components", "replacements", "images", "namePrefix", "nameSuffix",
	"commonLabels", "labels", "commonAnnotations", "helmCharts",
}

// isProgramTest reports whether a file is a `cxloop test` file (top-level
// program and tests, no kind), which a folder of manifests may hold.
func isProgramTest(data []byte) bool {
	var top map[string]any
	if err := sigsyaml.Unmarshal(data, &top); err != nil {
		return false
	}
	_, program := top["program"]
	_, tests := top["tests"]
	_, kind := top["kind"]
	return program && tests && !kind
}

func isKustomization(path string) bool {
	switch filepath.Base(path) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}

func (l *loader) kustomization(path, namespace string) error {
	if l.seen[path] {
		return fmt.Errorf("%s: kustomization included twice (a cycle?)", path)
	}
	l.seen[path] = true
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var k map[string]any
	if err := sigsyaml.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range kustomizeUnsupported {
		if _, ok := k[f]; ok {
			return fmt.Errorf("%s: %s changes the objects and is not applied here; validate the built output instead: "+
				"kustomize build %s | cxloop validate -f -", path, f, filepath.Dir(path))
		}
	}
	if ns, ok := k["namespace"].(string); ok && ns != "" {
		namespace = ns
	}
	resources, _ := k["resources"].([]any)
	for _, r := range resources {
		res, ok := r.(string)
		if !ok {
			return fmt.Errorf("%s: resources holds %v, want a path", path, r)
		}
		if strings.Contains(res, "://") || strings.HasPrefix(res, "github.com/") {
			return fmt.Errorf("%s: remote resource %s is not fetched; validate the built output instead: "+
				"kustomize build %s | cxloop validate -f -", path, res, filepath.Dir(path))
		}
		if err := l.path(filepath.Join(filepath.Dir(path), res), namespace); err != nil {
			return err
		}
	}
	return nil
}

// docSeparator is a line that starts a YAML document, as
// k8s.io/apimachinery's YAMLReader splits them.
var docSeparator = regexp.MustCompile(`^---(\s|$)`)

func (l *loader) parse(file string, data []byte, namespace string) error {
	type chunk struct {
		start int
		data  []byte
	}
	var chunks []chunk
	cur := chunk{start: 1}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		if docSeparator.Match(sc.Bytes()) {
			chunks = append(chunks, cur)
			cur = chunk{start: line + 1}
			continue
		}
		cur.data = append(cur.data, sc.Bytes()...)
		cur.data = append(cur.data, '\n')
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	chunks = append(chunks, cur)
	for _, c := range chunks {
		var root yaml.Node
		if err := yaml.Unmarshal(c.data, &root); err != nil {
			return fmt.Errorf("%s:%d: %w", file, c.start, yamlError(err, c.start))
		}
		if root.Kind == 0 || len(root.Content) == 0 {
			continue // empty or comments only
		}
		body := root.Content[0]
		if body.Kind == yaml.ScalarNode && body.Tag == "!!null" {
			continue
		}
		js, err := sigsyaml.YAMLToJSON(c.data)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", file, c.start, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return fmt.Errorf("%s:%d: not a Kubernetes object: %w", file, c.start+body.Line-1, err)
		}
		doc := Document{File: file, Line: c.start + body.Line - 1, Namespace: namespace, Object: u, node: body, offset: c.start - 1}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return fmt.Errorf("%s:%d: %w", file, doc.Line, err)
			}
			items := child(body, "items")
			for i := range list.Items {
				item := doc
				item.Object = &list.Items[i]
				item.node = nil
				if items != nil && i < len(items.Content) {
					item.node = items.Content[i]
					item.Line = items.Content[i].Line + doc.offset
				}
				l.docs = append(l.docs, item)
			}
			continue
		}
		l.docs = append(l.docs, doc)
	}
	return nil
}

// yamlError makes yaml.v3's "line N" relative to the file.
func yamlError(err error, start int) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return err
	}
	msg := regexp.MustCompile(`line (\d+)`).ReplaceAllStringFunc(err.Error(), func(s string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
		return "line " + strconv.Itoa(n+start-1)
	})
	return errors.New(msg)
}
