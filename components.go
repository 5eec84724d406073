package main

import (
	"fmt"
	"slices"
	"strings"
)

// The components one process may run.
const (
	componentReceiver    = "receiver"
	componentControllers = "controllers"
)

// componentSet is the value of --components: a comma-separated subset of
// receiver and controllers, at least one.
type componentSet map[string]bool

func (c componentSet) has(name string) bool { return c[name] }

// String lists the components in a fixed order.
func (c componentSet) String() string {
	var names []string
	for _, name := range []string{componentReceiver, componentControllers} {
		if c[name] {
			names = append(names, name)
		}
	}
	return strings.Join(names, ",")
}

// Set replaces the set with the components of v, refusing an unknown name
// or an empty list.
func (c componentSet) Set(v string) error {
	clear(c)
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains([]string{componentReceiver, componentControllers}, name) {
			return fmt.Errorf("unknown component %q: want receiver, controllers or both", name)
		}
		c[name] = true
	}
	return nil
}
