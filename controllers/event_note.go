package controllers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/kooper-io/kooper/internal/textcut"
)

// maxEventNote is the most bytes the API server takes in an
// events.k8s.io/v1 Event's note (NoteLengthLimit, k8s.io/kubernetes
// pkg/apis/core/validation/events.go). client-go's recorder does not retry
// an Event the API server refuses: it logs "Server rejected event (will
// not retry!)" and the Event is lost.
const maxEventNote = 1024

// eventNoteMarker ends a note that was cut, so a reader knows there was
// more (3 bytes, counted within maxEventNote).
const eventNoteMarker = "…"

// BoundedRecorder returns a recorder that records through rec, with every
// note first formatted from its format and arguments (as fmt.Sprintf) and
// then cut to at most 1024 bytes by cutNote; rec gets the finished note as
// the single argument of "%s". Notes copy outside text of any length (the
// API server's messages, annotations, the marketplace's answers), and one
// over the API server's limit would otherwise lose the whole Event.
// Annotations of AnnotatedEventf pass through unchanged.
func BoundedRecorder(rec recorder.EventRecorder) recorder.EventRecorder {
	return boundedRecorder{rec: rec}
}

// boundedRecorder is the recorder BoundedRecorder returns.
type boundedRecorder struct{ rec recorder.EventRecorder }

// Eventf records an Event with its note bounded (see BoundedRecorder).
func (b boundedRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	b.rec.Eventf(regarding, related, eventtype, reason, action, "%s", cutNote(fmt.Sprintf(note, args...), maxEventNote))
}

// AnnotatedEventf records an annotated Event with its note bounded (see
// BoundedRecorder).
func (b boundedRecorder) AnnotatedEventf(regarding, related runtime.Object, annotations map[string]string,
	eventtype, reason, action, note string, args ...any) {
	b.rec.AnnotatedEventf(regarding, related, annotations, eventtype, reason, action,
		"%s", cutNote(fmt.Sprintf(note, args...), maxEventNote))
}

// cutNote returns note, with any invalid UTF-8 replaced by U+FFFD, when
// that is at most limit bytes long; otherwise its longest prefix that ends
// on a character boundary and leaves room for eventNoteMarker, followed by
// the marker: at most limit bytes in all, always valid UTF-8. Invalid bytes
// are replaced first because JSON would send each as a 3-byte U+FFFD,
// which could push a note counted short enough over the limit. limit must
// be at least len(eventNoteMarker).
func cutNote(note string, limit int) string {
	note = strings.ToValidUTF8(note, "\uFFFD")
	if len(note) <= limit {
		return note
	}
	// The character the cut would split is left out whole.
	return textcut.Bytes(note, limit-len(eventNoteMarker)) + eventNoteMarker
}
