package ssogateway

import (
	"html/template"
	"net/http"
)

// page is one of the gateway's own pages: a title, what happened and what
// to do, and a link.
type page struct {
	Title, Message, LinkText, Link string
}

var (
	pageNotAuthorised = page{"Not authorised", "Your joint-operation account is not authorised for this application. " +
		"Ask your enterprise's administrator to authorise you for it, then sign in again.", "Sign out", LogoutPath}
	pageLoginExpired = page{"Sign-in expired", "This sign-in did not start here or took too long. Please sign in again.", "Sign in", StartPath}
	pageBadCallback  = page{"Sign-in refused", "The sign-in could not be completed: the link is not valid for this application.", "Sign in", StartPath}
	pageLoginFailed  = page{"Sign-in failed", "The joint-operation sign-in service did not confirm your sign-in. Please try again.", "Sign in", StartPath}
	pageUnavailable  = page{"Sign-in unavailable", "Sign-in is not available yet for this application. Please try again in a few minutes.", "Try again", "/"}
	pageSignedOut    = page{"Signed out", "You are signed out.", "Sign in again", StartPath}
	pageSignInFirst  = page{"Sign-in required", "Please sign in first.", "Sign in", StartPath}
	pageUpstreamDown = page{"Application unavailable", "The application did not answer. Please try again in a moment.", "Try again", "/"}
)

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body><h1 id="title">{{.Title}}</h1><p id="message">{{.Message}}</p><p><a id="link" href="{{.Link}}">{{.LinkText}}</a></p></body></html>
`))

// page writes p with status.
func (g *Gateway) page(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}
