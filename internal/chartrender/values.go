package chartrender

// MergeValues deep-merges layers of Helm values into a new map, later layers
// winning: where two layers both hold a map (map[string]any) under the same
// key, the maps are merged key by key; anything else (scalars, lists, nil, a
// map against a non-map) is replaced by the later layer's value. A nil layer
// is skipped. The result shares nothing with the layers: maps and lists are
// copied. A nil value is kept; Render then removes that key from the chart's
// own values.yaml, as Helm does with a null.
//
// kooper's caller merges product < plan < kooper's own values:
// MergeValues(product, plan, kooper).
func MergeValues(layers ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, layer := range layers {
		mergeInto(out, layer)
	}
	return out
}

// mergeInto merges src into dst, src winning, copying what it takes.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				mergeInto(dv, sv)
				continue
			}
		}
		dst[k] = copyValue(v)
	}
}

// copyValue deep-copies maps and lists; other values are returned as they
// are.
func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = copyValue(e)
		}
		return l
	default:
		return v
	}
}
