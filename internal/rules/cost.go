package rules

import (
	"github.com/google/cel-go/checker"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Input limits. The static cost estimate of a response rule assumes them,
// so the collector must reject a response that exceeds one; most are also
// limits of the API (the touchpoint's comment and text maxLength, the
// Case's snapshot, Customer).
const (
	// MaxCommentLength is the longest comment (the touchpoint's
	// comment.maxLength, at most 20,000 characters).
	MaxCommentLength = 20000
	// MaxTextAnswerLength is the longest Text answer without maxLength.
	MaxTextAnswerLength = 10000
	// MaxChoiceLength is the longest Choice value.
	MaxChoiceLength = 100
	// MaxThemes is the most themes of one response.
	MaxThemes = 100
	// MaxThemeLength is the longest theme name.
	MaxThemeLength = 63
	// MaxMapEntries is the most entries of metadata and of
	// customer.attributes.
	MaxMapEntries = 50
	// MaxMapKeyLength is the longest key of metadata and of
	// customer.attributes.
	MaxMapKeyLength = 128
	// MaxMapValueLength is the longest value of metadata and of
	// customer.attributes.
	MaxMapValueLength = 1024
	// MaxCustomerIDLength is the longest customer id.
	MaxCustomerIDLength = 253
	// MaxTierLength is the longest customer tier or segment.
	MaxTierLength = 63
	// MaxNameLength is the longest touchpoint name.
	MaxNameLength = 253
)

// responseSizes tells the CEL cost estimator how large the variables of a
// touchpoint's responses can be, so that a rule's worst-case cost is
// known at compile time.
type responseSizes struct {
	commentMax uint64
	answers    map[string]checker.SizeEstimate
	answerItem map[string]checker.SizeEstimate
}

func newResponseSizes(tp *cxv1alpha1.SurveyTouchpoint) *responseSizes {
	s := &responseSizes{
		commentMax: MaxCommentLength,
		answers:    map[string]checker.SizeEstimate{},
		answerItem: map[string]checker.SizeEstimate{},
	}
	if c := tp.Spec.Comment; c != nil && c.MaxLength > 0 && c.MaxLength < MaxCommentLength {
		s.commentMax = uint64(c.MaxLength)
	}
	for _, q := range tp.Spec.Questions {
		switch q.Type {
		case cxv1alpha1.QuestionText:
			longest := uint64(MaxTextAnswerLength)
			if q.MaxLength != nil && *q.MaxLength > 0 {
				longest = uint64(*q.MaxLength)
			}
			s.answers[q.ID] = upTo(longest)
		case cxv1alpha1.QuestionChoice:
			longest := uint64(0)
			for _, c := range q.Choices {
				longest = max(longest, uint64(len(c.Value)))
			}
			if longest == 0 {
				longest = MaxChoiceLength
			}
			if q.AllowMultiple {
				s.answers[q.ID] = upTo(uint64(max(len(q.Choices), 1)))
				s.answerItem[q.ID] = upTo(longest)
			} else {
				s.answers[q.ID] = upTo(longest)
			}
		}
	}
	return s
}

func upTo(n uint64) checker.SizeEstimate { return checker.SizeEstimate{Min: 0, Max: n} }

func sizeOf(n uint64) *checker.SizeEstimate {
	e := upTo(n)
	return &e
}

// mapSize is the size of a string map variable or of its parts.
func mapSize(rest []string) *checker.SizeEstimate {
	switch {
	case len(rest) == 0:
		return sizeOf(MaxMapEntries)
	case rest[0] == "@keys":
		return sizeOf(MaxMapKeyLength)
	default: // a value: map.key, map['key'] or @values
		return sizeOf(MaxMapValueLength)
	}
}

// EstimateSize implements checker.CostEstimator.
func (s *responseSizes) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	p := n.Path()
	if len(p) == 0 {
		return nil
	}
	switch p[0] {
	case varComment:
		return sizeOf(s.commentMax)
	case varTouchpoint:
		return sizeOf(MaxNameLength)
	case varThemes:
		if len(p) == 1 {
			return sizeOf(MaxThemes)
		}
		return sizeOf(MaxThemeLength)
	case varMetadata:
		return mapSize(p[1:])
	case varCustomer:
		if len(p) < 2 {
			return nil
		}
		switch p[1] {
		case "id":
			return sizeOf(MaxCustomerIDLength)
		case "tier", "segment":
			return sizeOf(MaxTierLength)
		case "attributes":
			return mapSize(p[2:])
		}
	case varAnswers:
		if len(p) == 2 {
			if e, ok := s.answers[p[1]]; ok {
				return &e
			}
		}
		if len(p) == 3 {
			if e, ok := s.answerItem[p[1]]; ok {
				return &e
			}
		}
	}
	return nil
}

// EstimateCallCost implements checker.CostEstimator: the library's own
// estimates apply.
func (s *responseSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}
