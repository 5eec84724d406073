package controllers

import (
	"context"
	"time"
)

// PromQuerier evaluates an instant PromQL query (internal/promquery.Client
// in production).
type PromQuerier interface {
	Query(ctx context.Context, baseURL, query string, at time.Time) (float64, error)
}
