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

// settle gives a reply the code and message it is answered with: the
// error's when err is set (see toResult), else the handler's, else success;
// a missing message is the code's default.
func settle(rep reply, err error) reply {
	if err != nil {
		rep.code, rep.msg = toResult(err)
	}
	if rep.code == "" {
		rep.code = koogallery.ResultSuccess
	}
	if rep.msg == "" {
		rep.msg = defaultMessage(rep.code)
	}
	return rep
}

// respond is the only encoder: HTTP 200, JSON, the result code and message
// of a settled reply, and the Body-Sign header computed over the exact bytes
// written.
func (r *Receiver) respond(w http.ResponseWriter, rep reply, key string) {
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
