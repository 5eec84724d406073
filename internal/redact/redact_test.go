package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

const phone = "13812345678"

// captured is a development zap logger at the highest verbosity, as
// -zap-log-level=10 makes it, writing into the returned buffer.
func captured() (logr.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return zap.New(zap.WriteTo(&buf), zap.UseDevMode(true), zap.Level(zapcore.Level(-10))), &buf
}

func TestLoggerIsCappedBelowClientGoBodies(t *testing.T) {
	g := NewWithT(t)
	raw, buf := captured()
	log := Logger(raw)
	g.Expect(raw.V(10).Enabled()).To(BeTrue(), "the uncapped logger must enable what the test says is capped")
	for level := 0; level <= 10; level++ {
		g.Expect(log.V(level).Enabled()).To(Equal(level <= MaxVerbosity), "V(%d)", level)
	}
	log.V(MaxVerbosity).Info("Kept", "n", 1)
	log.V(MaxVerbosity + 1).Info("Dropped")
	log.WithName("receiver").WithValues("requestId", "r1").V(1).Info("Named")
	log.V(9).Error(errors.New("boom"), "Failed")
	out := buf.String()
	g.Expect(out).To(ContainSubstring("Kept"))
	g.Expect(out).NotTo(ContainSubstring("Dropped"))
	g.Expect(out).To(MatchRegexp(`receiver\s+Named.*requestId`))
	g.Expect(out).To(ContainSubstring("Failed"), "errors are logged at every verbosity")
	// The caller reported is the line that logged, not the capped sink.
	g.Expect(out).To(ContainSubstring("redact_test.go"))
	g.Expect(out).NotTo(ContainSubstring("logger.go"))

	capped := Logger(raw).WithName("a").V(3)
	g.Expect(capped.V(4).Enabled()).To(BeTrue())
	g.Expect(capped.V(5).Enabled()).To(BeFalse(), "3+5 is above the cap")
}

// client-go logs request and response bodies through the logger of the
// context it is given, at verbosity 8 and more: capped, it logs none.
func TestClientGoLogsNoBodyThroughTheCappedLogger(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cap   bool
		leaks bool
	}{
		{"uncapped, as before", false, true},
		{"capped", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			log, buf := captured()
			if tc.cap {
				log = Logger(log)
			}
			// What client-go's logBody does with the context's logger.
			ctxLog := klog.FromContext(logr.NewContext(context.Background(), log))
			if v := ctxLog.V(8); v.Enabled() {
				v.Info("Response Body", "body", `{"data":{"users-000.json":"[{\"userName\":\"`+phone+`\"}]"}}`)
			}
			g.Expect(strings.Contains(buf.String(), phone)).To(Equal(tc.leaks))
		})
	}
}

func TestAPIErrorWithholdsWhatTheServerQuoted(t *testing.T) {
	gk := schema.GroupKind{Group: "saas.kooper.io", Kind: "SaaSDirectory"}
	invalid := apierrors.NewInvalid(gk, "d-1", field.ErrorList{
		field.Invalid(field.NewPath("spec", "name"), "韩梅梅 "+phone, "must be short"),
		field.NotSupported(field.NewPath("spec", "mode"), phone, []string{"Production", "Debug"}),
		field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"),
		field.TooLong(field.NewPath("spec", "domainName"), phone, 255),
	})
	badRequest := apierrors.NewBadRequest(`failed to create typed patch object: .data.x: expected string, got &value.valueUnstructured{Value:` + phone + `}`)
	for _, tc := range []struct {
		name    string
		err     error
		want    []string
		same    bool
		invalid bool
	}{
		{name: "invalid", err: invalid, invalid: true,
			want: []string{`SaaSDirectory.saas.kooper.io "d-1" was refused (Invalid): `, "spec.name: must be short",
				`spec.mode: Unsupported value (value withheld): supported values: "Production", "Debug"`, "data: Forbidden: field is immutable when `immutable` is set",
				"spec.domainName: Too long: may not be more than 255 bytes"}},
		{name: "invalid, wrapped", err: fmt.Errorf("failed to apply SaaSDirectory d-1: %w", invalid), invalid: true,
			want: []string{"failed to apply SaaSDirectory d-1: SaaSDirectory.saas.kooper.io", "spec.name: must be short"}},
		{name: "bad request", err: badRequest,
			want: []string{"the API server refused the request (BadRequest, HTTP 400); its message may quote the object and is withheld"}},
		{name: "not found", err: apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "kooper-directory"), same: true},
		{name: "conflict", err: apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "x", errors.New("the object has been modified")), same: true},
		{name: "not the API server's", err: errors.New("shard is corrupt"), same: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := APIError(tc.err)
			if tc.same {
				g.Expect(got).To(BeIdenticalTo(tc.err))
				return
			}
			g.Expect(got.Error()).NotTo(ContainSubstring(phone))
			g.Expect(got.Error()).NotTo(ContainSubstring("韩梅梅"))
			for _, want := range tc.want {
				g.Expect(got.Error()).To(ContainSubstring(want))
			}
			g.Expect(apierrors.IsInvalid(got)).To(Equal(tc.invalid))
			g.Expect(apierrors.IsBadRequest(got)).To(Equal(apierrors.IsBadRequest(tc.err)))
			var status *apierrors.StatusError
			g.Expect(errors.As(got, &status)).To(BeTrue())
			if d := status.ErrStatus.Details; d != nil {
				for _, c := range d.Causes {
					g.Expect(c.Message).NotTo(ContainSubstring(phone))
				}
			}
		})
	}
	NewWithT(t).Expect(APIError(nil)).To(BeNil())
}

// logSequence logs through l as controller-runtime and kooper do: values,
// a name, more values, lines at two verbosities and an error.
func logSequence(l logr.Logger) {
	l = l.WithValues("controller", "saastenant").WithName("reconciler").WithValues("SaaSTenant", "t-1", "reconcileID", "r-1")
	quiet := l.WithValues("step", "apply")
	_ = quiet // a logger that logs nothing
	l.Info("Provisioned", "namespace", "tenant-1")
	l.V(1).Info("Detail", "objects", 7)
	l.WithName("status").Error(errors.New("conflict"), "Failed to write the status", "attempt", 2)
}

// withoutTimes is the development log lines of out without their times,
// and without the stack traces under errors (whose frames differ).
func withoutTimes(out string) string {
	var lines []string
	for line := range strings.SplitSeq(out, "\n") {
		if _, rest, ok := strings.Cut(line, "\t"); ok && strings.HasPrefix(line, "20") {
			lines = append(lines, rest)
		}
	}
	return strings.Join(lines, "\n")
}

func TestValuesPassedOnWhenLoggedMakeTheSameLines(t *testing.T) {
	g := NewWithT(t)
	direct, directOut := captured()
	logSequence(direct)
	capped, cappedOut := captured()
	logSequence(Logger(capped).WithCallDepth(-1)) // Logger adds a frame for its own Info
	g.Expect(strings.Count(withoutTimes(directOut.String()), "\n")).To(Equal(2))
	g.Expect(withoutTimes(cappedOut.String())).To(Equal(withoutTimes(directOut.String())))
	g.Expect(cappedOut.String()).To(ContainSubstring(`"reconcileID": "r-1"`))
}

// countingSink counts the WithValues calls that reach it.
type countingSink struct {
	logr.LogSink
	withValues *int
}

func (s countingSink) WithValues(keysAndValues ...any) logr.LogSink {
	*s.withValues++
	return countingSink{LogSink: s.LogSink.WithValues(keysAndValues...), withValues: s.withValues}
}

func TestValuesReachTheSinkOnlyWhenALineIsLogged(t *testing.T) {
	g := NewWithT(t)
	zapped, _ := captured()
	calls := 0
	l := Logger(logr.New(countingSink{LogSink: zapped.GetSink(), withValues: &calls}))
	for i := range 100 {
		_ = l.WithValues("reconcileID", i).WithName("quiet").WithValues("step", "apply")
	}
	g.Expect(calls).To(BeZero())
	l.WithValues("reconcileID", "r-1").Info("Provisioned")
	g.Expect(calls).To(Equal(1))
}

func TestLoggersMadeFromOneKeepTheirOwnValues(t *testing.T) {
	g := NewWithT(t)
	zapped, out := captured()
	// Three appends leave room in the values' array: two loggers made from
	// base must not both write into it.
	base := Logger(zapped).WithValues("controller", "saastenant").WithValues("group", "saas.kooper.io").WithValues("kind", "SaaSTenant")
	first, second := base.WithValues("SaaSTenant", "a"), base.WithValues("SaaSTenant", "b")
	first.Info("one")
	second.Info("two")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	g.Expect(lines).To(HaveLen(2))
	g.Expect(lines[0]).To(ContainSubstring(`"SaaSTenant": "a"`))
	g.Expect(lines[0]).NotTo(ContainSubstring(`"b"`))
	g.Expect(lines[1]).To(ContainSubstring(`"SaaSTenant": "b"`))
}

// TestAPIErrorWithheldTwiceStillNamesTheRefuser: a step withholds a
// refusal, and the Reconciling condition withholds the reconcile's error
// again; withheld twice, the policy's name was lost ("name not
// recognized"), since it is read only from kube-apiserver's own words.
func TestAPIErrorWithheldTwiceStillNamesTheRefuser(t *testing.T) {
	g := NewWithT(t)
	denied := "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: data=s3cr3t"
	refused := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonInvalid, Code: 422,
		Message: `secrets "k" is forbidden: ` + denied,
		Details: &metav1.StatusDetails{Name: "k", Kind: "secrets", Causes: []metav1.StatusCause{{Message: denied}}}}}
	once := fmt.Errorf("failed to store the key: %w", APIError(refused))
	twice := APIError(once)
	g.Expect(twice.Error()).To(Equal(once.Error()))
	g.Expect(twice.Error()).To(ContainSubstring("ValidatingAdmissionPolicy 'p' with binding 'b' denied request (Invalid, HTTP 422)"))
	g.Expect(apierrors.IsInvalid(twice)).To(BeTrue())
}

// TestAPIErrorWithholdsEachJoinedError: a failed step and the freeze that
// follows it are joined into one error; only the first was withheld, as
// errors.As finds only the first API error (and none in a kerrors
// aggregate, which does not unwrap).
func TestAPIErrorWithholdsEachJoinedError(t *testing.T) {
	refusal := func(policy string) error {
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonForbidden, Code: 403,
			Message: `deployments "app" is forbidden: ValidatingAdmissionPolicy '` + policy + `' denied request: replicas=s3cr3t-` + policy}}
	}
	for name, joined := range map[string]error{
		"errors.Join":         errors.Join(errors.New("step failed"), refusal("p1"), refusal("p2")),
		"a kerrors aggregate": kerrors.NewAggregate([]error{refusal("p1"), fmt.Errorf("freeze: %w", refusal("p2"))}),
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := APIError(joined)
			g.Expect(got.Error()).NotTo(ContainSubstring("s3cr3t"))
			g.Expect(got.Error()).To(ContainSubstring("'p1'"))
			g.Expect(got.Error()).To(ContainSubstring("'p2'"))
			g.Expect(apierrors.IsForbidden(got)).To(BeTrue(), "still told as a refusal")
		})
	}
	g := NewWithT(t)
	plain := errors.Join(errors.New("a"), errors.New("b"))
	g.Expect(APIError(plain)).To(BeIdenticalTo(plain), "nothing to withhold: the error as it was")
}
