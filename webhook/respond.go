package webhook

import (
	"net/http"
	"strconv"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// reply is a handler's answer. A zero reply is plain success.
type reply struct {
	code koogallery.ResultCode
	msg  string
	// body is *koogallery.NewInstanceResponse or *koogallery.QueryInstanceResponse
	// for activities that answer more than a result; respond fills in its result.
	body any
}

// respond is the only encoder: HTTP 200, JSON, the result code and message,
// and the Body-Sign header computed over the exact bytes written.
func (r *Receiver) respond(w http.ResponseWriter, rep reply, key string) {
	if rep.code == "" {
		rep.code = koogallery.ResultSuccess
	}
	if rep.msg == "" {
		rep.msg = defaultMessage(rep.code)
	}
	result := koogallery.Response{ResultCode: rep.code, ResultMsg: koogallery.TruncateMessage(rep.msg)}
	var body any = &result
	switch b := rep.body.(type) {
	case *koogallery.NewInstanceResponse:
		b.Response, body = result, b
	case *koogallery.QueryInstanceResponse:
		b.Response, body = result, b
	}
	data, err := koogallery.EncodeResponse(body)
	if err != nil {
		// Encoding our own structs cannot fail; if it ever does, still answer JSON.
		data = []byte(`{"resultCode":"000005","resultMsg":"internal error; please retry"}`)
	}
	header := w.Header()
	header.Set("Content-Type", "application/json;charset=UTF-8")
	header.Set("Content-Length", strconv.Itoa(len(data)))
	if r.opts.BodySign && key != "" {
		header.Set(koogallery.BodySignHeader, koogallery.BodySign(key, data))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func defaultMessage(code koogallery.ResultCode) string {
	switch code {
	case koogallery.ResultSuccess:
		return "success."
	case koogallery.ResultProcessing:
		return "the instance is being provisioned."
	}
	return string(code)
}
