package directory

// ScalarText is a field read as the directory reads a stored user's
// userName (see ReadUser): a JSON string, or a number's or boolean's text
// as written; null leaves it as it was; an object or array is an error.
// Whoever matches a name against the directory reads it with this, so
// that a user the kit sent as "userName":13812345678 (an account named by
// a phone number) is the same "13812345678" on both sides.
type ScalarText string

// UnmarshalJSON implements json.Unmarshaler, by the directory's own rule.
func (s *ScalarText) UnmarshalJSON(raw []byte) error {
	v := scalarText(*s)
	if err := v.UnmarshalJSON(raw); err != nil {
		return err
	}
	*s = ScalarText(v)
	return nil
}
