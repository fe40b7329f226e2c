package notify

// adaptiveCardContentType is the attachment type of an Adaptive Card.
const adaptiveCardContentType = "application/vnd.microsoft.card.adaptive"

// teamsMessage is the body a Microsoft Teams workflow ("Post to a channel
// when a webhook request is received") expects: a message with
// Adaptive Card attachments.
type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"`
	Content     adaptiveCard `json:"content"`
}

type adaptiveCard struct {
	Schema  string          `json:"$schema"`
	Type    string          `json:"type"`
	Version string          `json:"version"`
	Body    []cardElement   `json:"body"`
	Actions []cardAction    `json:"actions,omitempty"`
	MSTeams *cardTeamsWidth `json:"msteams,omitempty"`
}

// cardElement is a TextBlock or a FactSet.
type cardElement struct {
	Type     string     `json:"type"`
	Text     string     `json:"text,omitempty"`
	Weight   string     `json:"weight,omitempty"`
	Size     string     `json:"size,omitempty"`
	Style    string     `json:"style,omitempty"`
	Color    string     `json:"color,omitempty"`
	IsSubtle bool       `json:"isSubtle,omitempty"`
	Wrap     bool       `json:"wrap,omitempty"`
	Facts    []cardFact `json:"facts,omitempty"`
}

type cardFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type cardAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

type cardTeamsWidth struct {
	Width string `json:"width"`
}

// teamsPayload renders msg as an Adaptive Card: the title as a heading
// TextBlock, the text, a FactSet of the fields (with the severity first
// unless a field carries it), and an Action.OpenUrl for the link.
func teamsPayload(msg Message) teamsMessage {
	card := adaptiveCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		MSTeams: &cardTeamsWidth{Width: "Full"},
	}
	title := cardElement{Type: "TextBlock", Text: firstLine(msg.Title), Weight: "Bolder", Size: "Medium", Style: "heading", Wrap: true}
	if msg.Severity == "Urgent" || msg.Severity == "High" {
		title.Color = "Attention"
	}
	card.Body = append(card.Body, title)
	if msg.Text != "" {
		card.Body = append(card.Body, cardElement{Type: "TextBlock", Text: msg.Text, Wrap: true})
	}
	facts := make([]cardFact, 0, len(msg.Fields)+1)
	if msg.Severity != "" && !hasField(msg, "Severity") {
		facts = append(facts, cardFact{Title: "Severity", Value: msg.Severity})
	}
	for _, f := range msg.Fields {
		facts = append(facts, cardFact{Title: f.Name, Value: f.Value})
	}
	if len(facts) > 0 {
		card.Body = append(card.Body, cardElement{Type: "FactSet", Facts: facts})
	}
	if msg.Event != "" {
		card.Body = append(card.Body, cardElement{Type: "TextBlock", Text: msg.Event, Size: "Small", IsSubtle: true, Wrap: true})
	}
	if msg.Link != "" {
		card.Actions = []cardAction{{Type: "Action.OpenUrl", Title: "Open", URL: msg.Link}}
	}
	return teamsMessage{
		Type:        "message",
		Attachments: []teamsAttachment{{ContentType: adaptiveCardContentType, Content: card}},
	}
}
