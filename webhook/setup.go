package webhook

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// Setup serves the callback receiver from mgr on its own HTTP server, as
// production runs it: on every replica, never leader-elected, reading
// through mgr's cache and its API reader. It returns the server, whose Addr
// says where it listens.
func Setup(mgr ctrl.Manager, opts Options, serverOpts ServerOptions) (*Server, error) {
	if opts.Recorder == nil {
		opts.Recorder = mgr.GetEventRecorder("kooper-receiver")
	}
	receiver, err := NewReceiver(mgr.GetClient(), mgr.GetAPIReader(), opts)
	if err != nil {
		return nil, err
	}
	server := NewServer(serverOpts, receiver.Handler())
	return server, mgr.Add(server)
}
