package survey

import "strings"

// Strings is the page's own wording (buttons, marks, notices) in one
// language. The touchpoint's texts come from its spec; these do not.
type Strings struct {
	Submit         string
	Required       string
	Optional       string
	Yes, No        string
	Comment        string
	ErrorSummary   string
	NPSMin, NPSMax string
	ThankYou       string
	ThanksTitle    string
	AnsweredTitle  string
	Answered       string
	ExpiredTitle   string
	Expired        string
	InvalidTitle   string
	Invalid        string
	TooManyTitle   string
	TooMany        string
	Unsubscribed   string
	UnsubscribeAsk string
	UnsubscribeBtn string
	CharactersMax  string
	OpenSurvey     string
}

var uiStrings = map[string]Strings{
	"en": {
		Submit: "Send my answers", Required: "required", Optional: "optional", Yes: "Yes", No: "No",
		Comment: "Anything else you want to tell us?", ErrorSummary: "Please check these answers:",
		NPSMin: "Not at all likely", NPSMax: "Extremely likely",
		ThankYou: "Thank you for your answers.", ThanksTitle: "Thank you!",
		AnsweredTitle: "Already answered", Answered: "You have already answered this survey. Thank you!",
		ExpiredTitle: "This link has expired", Expired: "This survey link has expired, so it can no longer be answered. Thank you for your interest.",
		InvalidTitle: "Link not valid", Invalid: "This survey link is not valid. Please use the link from your invitation as it is.",
		TooManyTitle: "Please try again later", TooMany: "We have received many answers from your network. Please try again in a while.",
		Unsubscribed: "You will not receive survey invitations from us any more.", UnsubscribeAsk: "Stop receiving survey invitations from us?", UnsubscribeBtn: "Unsubscribe",
		CharactersMax: "at most %d characters", OpenSurvey: "Open the survey",
	},
	"de": {
		Submit: "Antworten senden", Required: "Pflichtfeld", Optional: "optional", Yes: "Ja", No: "Nein",
		Comment: "Möchten Sie uns noch etwas mitteilen?", ErrorSummary: "Bitte prüfen Sie diese Antworten:",
		NPSMin: "Sehr unwahrscheinlich", NPSMax: "Sehr wahrscheinlich",
		ThankYou: "Vielen Dank für Ihre Antworten.", ThanksTitle: "Vielen Dank!",
		AnsweredTitle: "Bereits beantwortet", Answered: "Sie haben diese Umfrage bereits beantwortet. Vielen Dank!",
		ExpiredTitle: "Dieser Link ist abgelaufen", Expired: "Dieser Umfragelink ist abgelaufen und kann nicht mehr beantwortet werden. Vielen Dank für Ihr Interesse.",
		InvalidTitle: "Link ungültig", Invalid: "Dieser Umfragelink ist ungültig. Bitte verwenden Sie den Link aus Ihrer Einladung unverändert.",
		TooManyTitle: "Bitte später erneut versuchen", TooMany: "Aus Ihrem Netzwerk kamen viele Antworten. Bitte versuchen Sie es später erneut.",
		Unsubscribed: "Sie erhalten keine Umfrageeinladungen mehr von uns.", UnsubscribeAsk: "Keine Umfrageeinladungen mehr von uns erhalten?", UnsubscribeBtn: "Abmelden",
		CharactersMax: "höchstens %d Zeichen", OpenSurvey: "Zur Umfrage",
	},
	"fr": {
		Submit: "Envoyer mes réponses", Required: "obligatoire", Optional: "facultatif", Yes: "Oui", No: "Non",
		Comment: "Souhaitez-vous nous dire autre chose ?", ErrorSummary: "Veuillez vérifier ces réponses :",
		NPSMin: "Pas du tout probable", NPSMax: "Très probable",
		ThankYou: "Merci pour vos réponses.", ThanksTitle: "Merci !",
		AnsweredTitle: "Déjà répondu", Answered: "Vous avez déjà répondu à cette enquête. Merci !",
		ExpiredTitle: "Ce lien a expiré", Expired: "Ce lien d'enquête a expiré et ne peut plus être utilisé. Merci de votre intérêt.",
		InvalidTitle: "Lien non valide", Invalid: "Ce lien d'enquête n'est pas valide. Utilisez le lien de votre invitation tel quel.",
		TooManyTitle: "Veuillez réessayer plus tard", TooMany: "Nous avons reçu beaucoup de réponses de votre réseau. Veuillez réessayer plus tard.",
		Unsubscribed: "Vous ne recevrez plus d'invitations à nos enquêtes.", UnsubscribeAsk: "Ne plus recevoir d'invitations à nos enquêtes ?", UnsubscribeBtn: "Se désabonner",
		CharactersMax: "%d caractères au maximum", OpenSurvey: "Ouvrir l'enquête",
	},
	"es": {
		Submit: "Enviar mis respuestas", Required: "obligatorio", Optional: "opcional", Yes: "Sí", No: "No",
		Comment: "¿Algo más que quiera contarnos?", ErrorSummary: "Revise estas respuestas:",
		NPSMin: "Nada probable", NPSMax: "Muy probable",
		ThankYou: "Gracias por sus respuestas.", ThanksTitle: "¡Gracias!",
		AnsweredTitle: "Ya respondida", Answered: "Ya ha respondido a esta encuesta. ¡Gracias!",
		ExpiredTitle: "Este enlace ha caducado", Expired: "Este enlace de encuesta ha caducado y ya no se puede responder. Gracias por su interés.",
		InvalidTitle: "Enlace no válido", Invalid: "Este enlace de encuesta no es válido. Use el enlace de su invitación tal cual.",
		TooManyTitle: "Inténtelo más tarde", TooMany: "Hemos recibido muchas respuestas desde su red. Inténtelo de nuevo más tarde.",
		Unsubscribed: "Ya no recibirá invitaciones a nuestras encuestas.", UnsubscribeAsk: "¿Dejar de recibir invitaciones a nuestras encuestas?", UnsubscribeBtn: "Darse de baja",
		CharactersMax: "como máximo %d caracteres", OpenSurvey: "Abrir la encuesta",
	},
}

// UIStrings returns the page's wording in locale's language, English when
// the language has none.
func UIStrings(locale string) Strings {
	lang, _, _ := strings.Cut(strings.ToLower(locale), "-")
	if s, ok := uiStrings[lang]; ok {
		return s
	}
	return uiStrings["en"]
}
