package schedule

import "fmt"

// SyntaxError is the error Parse returns for a spec it cannot accept. It
// names the offending token, where it starts and what was expected instead.
type SyntaxError struct {
	Spec  string // the whole spec as given to Parse
	Pos   int    // 1-based byte position of Token in Spec; len(Spec)+1 at the end of the spec
	Token string // the offending token; "" at the end of the spec
	Msg   string // what is wrong and what was expected
	Err   error  // the underlying error, if any (an unknown time zone)
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("schedule: %q: at %d: %s", e.Spec, e.Pos, e.Msg)
}

// Unwrap returns the underlying error, if any.
func (e *SyntaxError) Unwrap() error { return e.Err }
