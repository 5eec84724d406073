package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// way is one of the three ways a round of the throughput run or of the
// chart phase provisions its tenants.
type way string

const (
	wayKooper way = "kooper" // bought through the receiver, provisioned by the controllers
	wayDirect way = "direct" // the same objects created directly (the ceiling)
	wayRecord way = "record" // the direct creates inside each tenant's record, the controllers stopped
)

// roundOrder is the order of round k's ways, k counting from 0. Round 0
// starts with kooper's way, since the other two copy its first tenant;
// each later round starts one way further on. Every way's tenants stay
// until the run ends, so a way runs on the objects of each way before it,
// and the machine drifts within a round as well as between rounds: in a
// fixed order that drift fell on the same way in every round (until
// 2026-12-03 kooper's ran first, on the fewest objects, in every round).
func roundOrder(k int) []way {
	ways := []way{wayKooper, wayDirect, wayRecord}
	r := k % len(ways)
	return slices.Concat(ways[r:], ways[:r])
}

// roundCell is a rounds table's first cell: the round's number, counting
// from 1, and the order its ways ran in, when it was recorded.
func roundCell(k int, order []way) string {
	if len(order) == 0 {
		return fmt.Sprint(k + 1)
	}
	names := make([]string, len(order))
	for i, w := range order {
		names[i] = string(w)
	}
	return fmt.Sprintf("%d (%s)", k+1, strings.Join(names, ", "))
}

// runWays runs each way of order with its function in run, stopping at the
// first error. A kooper way after a record way first calls settle: the
// record way restarted the controllers, whose resync of every tenant would
// otherwise slow kooper's way.
func runWays(ctx context.Context, order []way, settle func(context.Context) error, run map[way]func() error) error {
	for i, w := range order {
		if w == wayKooper && slices.Contains(order[:i], wayRecord) {
			if err := settle(ctx); err != nil {
				return err
			}
		}
		if err := run[w](); err != nil {
			return err
		}
	}
	return nil
}
