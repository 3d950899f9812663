// Package clean is the roamclean stage: raw accounting records become the
// roaming history (sessions), and every record ends in exactly one
// outcome with a reason code. The rules are pure functions (rules.go):
// records in, outcomes and sessions out. docs/clean.md describes them for
// operators and auditors.
package clean

// Outcome is what became of a raw record (raw.record_status).
type Outcome string

// The four outcomes: every raw record ends in exactly one.
const (
	Session    Outcome = "session"    // part of a session of the history
	Duplicate  Outcome = "duplicate"  // the same record seen before
	Irrelevant Outcome = "irrelevant" // not billable usage
	Rejected   Outcome = "rejected"   // an error: returned to its sender
)

// Reason codes (raw.reason), one per rule; DESIGN.md "Cleaning rules, in
// order". Session records carry ReasonSession.
const (
	ReasonSession       = "SESSION"
	ReasonOnOff         = "ACCOUNTING_ON_OFF"
	ReasonDuplicate     = "DUPLICATE"
	ReasonUnknownSender = "UNKNOWN_SENDER"
	ReasonNoUser        = "NO_USER"
	ReasonNoRealm       = "NO_REALM"
	ReasonUnknownRealm  = "UNKNOWN_REALM"
	ReasonBadDuration   = "BAD_DURATION"
	ReasonBadCounter    = "BAD_COUNTER"
	ReasonFutureEvent   = "FUTURE_EVENT"
	ReasonHomeIsLocal   = "HOME_IS_LOCAL"
	ReasonSuperseded    = "SUPERSEDED"
	ReasonZeroDuration  = "ZERO_DURATION"
)

// Reason is one reason code with its outcome and meaning.
type Reason struct {
	Code    string
	Outcome Outcome
	Meaning string
}

// Reasons lists every code in the order its rule applies (the first rule
// that applies decides), then the session records' own.
func Reasons() []Reason {
	return []Reason{
		{ReasonOnOff, Irrelevant, "an Accounting-On or Accounting-Off (a NAS rebooted): no usage"},
		{ReasonDuplicate, Duplicate, "the same record as another (same sender, NAS, session id, status type, counters, and event time where stamped): a retransmission, a second request or a second route"},
		{ReasonUnknownSender, Rejected, "its batch's sender is no partner in partners.csv"},
		{ReasonNoUser, Rejected, "no user name, or no user part in it"},
		{ReasonNoRealm, Rejected, "a user name without a realm (user@realm, REALM\\user or user%realm)"},
		{ReasonUnknownRealm, Rejected, "a realm that belongs to no partner in partners.csv"},
		{ReasonBadDuration, Rejected, "a session time below 0 or over 7 days"},
		{ReasonBadCounter, Rejected, "a counter the raw table could not hold (raw.problem)"},
		{ReasonFutureEvent, Rejected, "an event time later than the creation of the batch that carried it"},
		{ReasonHomeIsLocal, Irrelevant, "the user's home ISP is the local ISP: no roaming"},
		{ReasonSuperseded, Irrelevant, "a record of a session other than its Start and the record with its final figures (an interim, an extra Start or Stop)"},
		{ReasonZeroDuration, Irrelevant, "a record of a session whose final duration is 0"},
		{ReasonSession, Session, "the Start of a session, or the record with its final figures (its Stop, or the last record of an estimated session)"},
	}
}

// OutcomeOf returns the outcome of a reason code.
func OutcomeOf(code string) (Outcome, bool) {
	for _, r := range Reasons() {
		if r.Code == code {
			return r.Outcome, true
		}
	}
	return "", false
}
