package survey

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

//go:embed assets/survey.css
var assets embed.FS

// CSS is the page's stylesheet, served by the collector at StylePath.
var CSS = mustRead("assets/survey.css")

// CSSVersion changes with the stylesheet, so it can be cached for long.
var CSSVersion = func() string { h := sha256.Sum256(CSS); return hex.EncodeToString(h[:6]) }()

// StylePath is where the collector serves CSS.
const StylePath = "/s/assets/survey.css"

// ContentSecurityPolicy is the policy every page is served with: no script
// at all, styles only from the collector's stylesheet (no inline style),
// forms posted only back to it, and no framing.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func mustRead(name string) []byte {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// Form is what a survey form page shows.
type Form struct {
	Survey *Survey
	// Action is the URL the form posts to.
	Action string
	// Hidden fields posted with the form (the CSRF token...).
	Hidden map[string]string
	// Values are the answers so far (a prefilled answer from the email, or
	// the form as submitted), by form field name.
	Values url.Values
	// Errors are the validation messages by question id (CommentField for
	// the comment); General those that belong to no field.
	Errors  map[string]string
	General []string
}

// Message is a page with a heading and a paragraph (thank you, expired...).
type Message struct {
	Locale  string
	Title   string
	Heading string
	Body    string
	// Action, when set, makes the page a one-button form (unsubscribe).
	Action string
	Button string
	Hidden map[string]string
}

// FieldName is the form field of a question.
func FieldName(questionID string) string { return "a." + questionID }

// CommentField is the form field of the comment.
const CommentField = "comment"

// view models of the templates.
type (
	Head struct {
		Lang, Title, Style string
	}
	formView struct {
		Head
		S       *Survey
		Action  string
		Hidden  map[string]string
		Summary []summaryItem
		Qs      []questionView
		Comment *questionView
	}
	summaryItem  struct{ Anchor, Text string }
	questionView struct {
		Q        Question
		Kind     string // scale, yesno, choice, text
		Anchor   string // id of the first control, target of the summary link
		Field    string
		Legend   string
		Req      string // the word for "required"
		ErrID    string
		Err      string
		HintID   string
		Hint     string
		Describe string // aria-describedby of the controls
		Cols     string
		Options  []optionView
		Text     string
		Max      int
	}
	optionView struct {
		ID, Value, Label, SR string
		Checked              bool
		Type                 string
	}
	messageView struct {
		Head
		M Message
	}
)

var pages = template.Must(template.New("survey").Parse(pageTemplates))

// RenderForm writes the survey form.
func RenderForm(w io.Writer, f Form) error {
	return render(w, "form", buildForm(f))
}

// RenderMessage writes a message page.
func RenderMessage(w io.Writer, m Message) error {
	return render(w, "message", messageView{Head: page(m.Locale, m.Title), M: m})
}

func page(lang, title string) Head {
	return Head{Lang: lang, Title: title, Style: StylePath + "?v=" + CSSVersion}
}

func render(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render survey %s page: %w", name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func buildForm(f Form) formView {
	s := f.Survey
	v := formView{Head: page(s.Locale, s.Title), S: s, Action: f.Action, Hidden: f.Hidden}
	for _, g := range f.General {
		v.Summary = append(v.Summary, summaryItem{Text: g})
	}
	for _, q := range s.Questions {
		qv := buildQuestion(s, q, f.Values, f.Errors[q.ID])
		if qv.Err != "" {
			v.Summary = append(v.Summary, summaryItem{Anchor: qv.Anchor, Text: qv.Legend + ": " + qv.Err})
		}
		v.Qs = append(v.Qs, qv)
	}
	if s.Comment {
		c := questionView{
			Kind: "text", Field: CommentField, Anchor: "f-comment", Legend: s.UI.Comment,
			Err: f.Errors[CommentField], ErrID: "e-comment", HintID: "h-comment",
			Hint: s.UI.Optional + ", " + fmt.Sprintf(s.UI.CharactersMax, s.CommentMax),
			Text: f.Values.Get(CommentField), Max: s.CommentMax,
		}
		c.Describe = describe(c)
		if c.Err != "" {
			v.Summary = append(v.Summary, summaryItem{Anchor: c.Anchor, Text: c.Legend + ": " + c.Err})
		}
		v.Comment = &c
	}
	return v
}

func buildQuestion(s *Survey, q Question, values url.Values, errMsg string) questionView {
	field := FieldName(q.ID)
	qv := questionView{
		Q: q, Field: field, Legend: q.Text, Err: errMsg, Req: s.UI.Required,
		ErrID: "e-" + q.ID, HintID: "h-" + q.ID, Anchor: "f-" + q.ID,
	}
	if !q.Required {
		qv.Hint = s.UI.Optional
	}
	chosen := values[field]
	opt := func(i int, value, label, sr, typ string) optionView {
		return optionView{ID: "f-" + q.ID + "-" + strconv.Itoa(i), Value: value, Label: label, SR: sr,
			Checked: slices.Contains(chosen, value), Type: typ}
	}
	switch {
	case q.Scaled():
		qv.Kind = "scale"
		n := q.Max - q.Min + 1
		qv.Cols = "scale n" + strconv.Itoa(n)
		if n > 11 {
			qv.Cols = "scale wide"
		}
		for i, p := range q.Points() {
			sr := ""
			if p == q.Min && q.MinLabel != "" {
				sr = q.MinLabel
			}
			if p == q.Max && q.MaxLabel != "" {
				sr = q.MaxLabel
			}
			qv.Options = append(qv.Options, opt(i, strconv.Itoa(p), strconv.Itoa(p), sr, "radio"))
		}
	case q.Type == cxv1alpha1.QuestionYesNo:
		qv.Kind = "yesno"
		qv.Options = []optionView{opt(0, "yes", s.UI.Yes, "", "radio"), opt(1, "no", s.UI.No, "", "radio")}
	case q.Type == cxv1alpha1.QuestionChoice:
		qv.Kind = "choice"
		typ := "radio"
		if q.Multiple {
			typ = "checkbox"
		}
		for i, c := range q.Choices {
			qv.Options = append(qv.Options, opt(i, c.Value, c.Label, "", typ))
		}
	default:
		qv.Kind = "text"
		qv.Text = values.Get(field)
		qv.Max = q.MaxLength
		if qv.Max > 0 {
			qv.Hint = strings.TrimPrefix(qv.Hint+", "+fmt.Sprintf(s.UI.CharactersMax, qv.Max), ", ")
		}
	}
	if len(qv.Options) > 0 {
		qv.Anchor = qv.Options[0].ID
	}
	qv.Describe = describe(qv)
	return qv
}

func describe(qv questionView) string {
	var ids []string
	if qv.Hint != "" {
		ids = append(ids, qv.HintID)
	}
	if qv.Err != "" {
		ids = append(ids, qv.ErrID)
	}
	return strings.Join(ids, " ")
}
