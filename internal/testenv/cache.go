package testenv

import (
	"context"
	"reflect"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheBehind is a client whose cache still holds an older copy of one
// object (Old), as an informer that has not delivered the latest change
// yet: every other read, and every write, goes to Client. Tests of "decide
// nothing on a cache that may be stale" give it to the code under test.
type CacheBehind struct {
	client.Client
	Old client.Object
}

// Get answers Old's key with a copy of Old, everything else from Client.
func (c CacheBehind) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if reflect.TypeOf(obj) == reflect.TypeOf(c.Old) && key == client.ObjectKeyFromObject(c.Old) {
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(c.Old.DeepCopyObject()).Elem())
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}
