package survey

// pageTemplates are the page layouts. Every page is one HTML document with
// no script; the stylesheet is the only subresource.
const pageTemplates = `
{{define "head"}}<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<link rel="stylesheet" href="{{.Style}}">
</head>
<body>
<main>
<div class="card">
{{end}}

{{define "foot"}}</div>
</main>
</body>
</html>
{{end}}

{{define "hidden"}}{{range $k, $v := .}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}{{end}}

{{define "message"}}{{template "head" .Head}}
<h1>{{.M.Heading}}</h1>
<p>{{.M.Body}}</p>
{{if .M.Action}}<form method="post" action="{{.M.Action}}">
{{template "hidden" .M.Hidden}}<button type="submit">{{.M.Button}}</button>
</form>
{{end}}{{template "foot"}}{{end}}


{{define "legend"}}{{.Legend}}{{if .Q.Required}} <span class="req" aria-hidden="true">*</span><span class="sr"> ({{.Req}})</span>{{end}}{{if .Hint}} <span class="hint" id="{{.HintID}}">({{.Hint}})</span>{{end}}{{end}}

{{define "error"}}{{if .Err}}<p class="error" id="{{.ErrID}}">{{.Err}}</p>{{end}}{{end}}

{{define "options"}}{{$q := .}}{{range .Options}}<label class="opt" for="{{.ID}}"><input type="{{.Type}}" id="{{.ID}}" name="{{$q.Field}}" value="{{.Value}}"{{if .Checked}} checked{{end}}{{if $q.Describe}} aria-describedby="{{$q.Describe}}"{{end}}><span>{{.Label}}{{if .SR}}<span class="sr"> ({{.SR}})</span>{{end}}</span></label>
{{end}}{{end}}

{{define "question"}}{{if eq .Kind "text"}}<div class="field">
<label class="label" for="{{.Anchor}}">{{template "legend" .}}</label>
<textarea id="{{.Anchor}}" name="{{.Field}}"{{if .Max}} maxlength="{{.Max}}"{{end}}{{if .Q.Required}} aria-required="true"{{end}}{{if .Err}} aria-invalid="true"{{end}}{{if .Describe}} aria-describedby="{{.Describe}}"{{end}}>{{.Text}}</textarea>
{{template "error" .}}</div>
{{else}}<fieldset id="q-{{.Q.ID}}"{{if .Err}} class="invalid"{{end}}{{if eq .Kind "scale" "yesno"}} role="radiogroup"{{if .Q.Required}} aria-required="true"{{end}}{{if .Err}} aria-invalid="true"{{end}}{{end}}>
<legend>{{template "legend" .}}</legend>
{{if eq .Kind "scale"}}<div class="{{.Cols}}">
{{template "options" .}}</div>
{{if or .Q.MinLabel .Q.MaxLabel}}<div class="ends" aria-hidden="true"><span>{{.Q.Min}}: {{.Q.MinLabel}}</span><span>{{.Q.Max}}: {{.Q.MaxLabel}}</span></div>
{{end}}{{else if eq .Kind "yesno"}}<div class="yesno">
{{template "options" .}}</div>
{{else}}<div class="list">
{{template "options" .}}</div>
{{end}}{{template "error" .}}</fieldset>
{{end}}{{end}}

{{define "form"}}{{template "head" .Head}}
<h1>{{.S.Title}}</h1>
{{if .S.Intro}}<p>{{.S.Intro}}</p>
{{end}}<form method="post" action="{{.Action}}" novalidate>
{{template "hidden" .Hidden}}{{if .Summary}}<div class="summary" role="alert" aria-labelledby="summary-title">
<h2 id="summary-title">{{.S.UI.ErrorSummary}}</h2>
<ul>
{{range .Summary}}<li>{{if .Anchor}}<a href="#{{.Anchor}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}</li>
{{end}}</ul>
</div>
{{end}}{{range .Qs}}{{template "question" .}}{{end}}{{with .Comment}}{{template "question" .}}{{end}}<button type="submit">{{.S.UI.Submit}}</button>
</form>
{{template "foot"}}{{end}}
`
