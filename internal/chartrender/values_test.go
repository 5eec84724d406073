package chartrender

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestMergeValues(t *testing.T) {
	tests := []struct {
		name   string
		layers []map[string]any
		want   map[string]any
	}{
		{name: "no layers", layers: nil, want: map[string]any{}},
		{name: "nil layers skipped", layers: []map[string]any{nil, {"a": 1}, nil}, want: map[string]any{"a": 1}},
		{
			name:   "later scalar wins",
			layers: []map[string]any{{"a": 1, "b": "x"}, {"a": 2}},
			want:   map[string]any{"a": 2, "b": "x"},
		},
		{
			name: "maps merged key by key, at every depth",
			layers: []map[string]any{
				{"web": map[string]any{"replicas": 1, "res": map[string]any{"cpu": "1", "mem": "1Gi"}}},
				{"web": map[string]any{"res": map[string]any{"mem": "2Gi"}}},
				{"web": map[string]any{"replicas": 3}},
			},
			want: map[string]any{"web": map[string]any{"replicas": 3, "res": map[string]any{"cpu": "1", "mem": "2Gi"}}},
		},
		{
			name:   "lists replaced, not appended",
			layers: []map[string]any{{"hosts": []any{"a", "b"}}, {"hosts": []any{"c"}}},
			want:   map[string]any{"hosts": []any{"c"}},
		},
		{
			name:   "a scalar replaces a map",
			layers: []map[string]any{{"x": map[string]any{"y": 1}}, {"x": "flat"}},
			want:   map[string]any{"x": "flat"},
		},
		{
			name:   "a map replaces a scalar",
			layers: []map[string]any{{"x": "flat"}, {"x": map[string]any{"y": 1}}},
			want:   map[string]any{"x": map[string]any{"y": 1}},
		},
		{
			name:   "nil is kept and replaces",
			layers: []map[string]any{{"x": map[string]any{"y": 1}}, {"x": nil}},
			want:   map[string]any{"x": nil},
		},
		{
			name: "product < plan < kooper",
			layers: []map[string]any{
				{"plan": "product", "image": "crm:1", "kooper": map[string]any{"instanceId": "forged"}},
				{"plan": "gold"},
				{"kooper": map[string]any{"instanceId": "t1"}},
			},
			want: map[string]any{"plan": "gold", "image": "crm:1", "kooper": map[string]any{"instanceId": "t1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(MergeValues(tt.layers...)).To(Equal(tt.want))
		})
	}
}

func TestMergeValuesSharesNothing(t *testing.T) {
	g := NewWithT(t)
	inner := map[string]any{"y": 1}
	list := []any{map[string]any{"z": 1}}
	first := map[string]any{"x": inner, "l": list}
	got := MergeValues(first, map[string]any{"x": map[string]any{"w": 2}})

	got["x"].(map[string]any)["y"] = 99
	got["l"].([]any)[0].(map[string]any)["z"] = 99
	g.Expect(inner).To(Equal(map[string]any{"y": 1}), "the first layer's map is untouched")
	g.Expect(list[0]).To(Equal(map[string]any{"z": 1}), "the first layer's list is untouched")
}
