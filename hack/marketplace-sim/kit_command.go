package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// kitCommand is `kit`: one joint-operation sync call.
func kitCommand() command {
	return command{
		name:    "kit",
		summary: "Send one joint-operation kit sync (tenantSync, applicationSync, authSync, singleOrgSync, allOrgSync), signed with x-sign.",
		example: `  export KOOPER_SIM_KIT_KEY=test-kit-key KOOPER_SIM_KIT_PUBLIC_KEY=merchant-public.pem
  go run ./hack/marketplace-sim kit --interface tenantSync --instance-id i-0123 --tenant-id t-1 --domain https://acme.tenantaccount.com
  go run ./hack/marketplace-sim kit --interface applicationSync --instance-id i-0123 --tenant-id t-1 --client-secret s3cret
  go run ./hack/marketplace-sim kit --interface authSync --instance-id i-0123 --tenant-id t-1 --users 500 --first-user 0`,
		run: runKit,
	}
}

// kitOptions are the values of one kit call.
type kitOptions struct {
	name, instanceID, tenantID, tenantCode, domain, appID, clientID, clientSecret string
	orgCode, orgName, parentCode                                                  string
	flag, users, firstUser, departments                                           int
	orgsAsString, debug                                                           bool
}

func runKit(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("kit")
	var cb callbackFlags
	var kf kitFlags
	var o kitOptions
	cb.bind(fs)
	kf.bind(fs)
	fs.StringVar(&o.name, "interface", "", "kit interface: "+strings.Join(kitInterfaces, ", "))
	fs.StringVar(&o.instanceID, "instance-id", "", "instance ID (an unknown one is the seller's test tenant)")
	fs.StringVar(&o.tenantID, "tenant-id", "sim-tenant", "enterprise (tenant) ID")
	fs.StringVar(&o.tenantCode, "tenant-code", "sim", "tenantSync: tenant code")
	fs.StringVar(&o.domain, "domain", "https://sim.tenantaccount.example.com", "tenantSync: the enterprise's unified-authentication domain")
	fs.StringVar(&o.appID, "app-id", "sim-app", "applicationSync, authSync: application ID")
	fs.StringVar(&o.clientID, "client-id", "sim-client", "applicationSync: OAuth client ID")
	fs.StringVar(&o.clientSecret, "client-secret", "sim-client-secret", "applicationSync: OAuth client secret, sent RSA-encrypted")
	fs.StringVar(&o.orgCode, "org-code", "sim-d0", "singleOrgSync: department code")
	fs.StringVar(&o.orgName, "org-name", "Department 0", "singleOrgSync: department name")
	fs.StringVar(&o.parentCode, "parent-code", "sim-root", "singleOrgSync: parent department code")
	fs.IntVar(&o.flag, "flag", 1, "0 delete, 1 add, 2 modify, 3 cancel authorisation (authSync)")
	fs.IntVar(&o.users, "users", 10, "authSync: how many users (at most 500)")
	fs.IntVar(&o.firstUser, "first-user", 0, "authSync: number of the first user")
	fs.IntVar(&o.departments, "departments", 3, "allOrgSync: departments under the root")
	fs.BoolVar(&o.orgsAsString, "org-list-as-string", false, "allOrgSync: send orgInfoList as a JSON string, as the doc example does")
	if err := parse(fs, args); err != nil {
		return err
	}
	o.debug = cb.debug
	if !slices.Contains(kitInterfaces, o.name) || o.instanceID == "" {
		return usagef("--interface (one of %s) and --instance-id are required", strings.Join(kitInterfaces, ", "))
	}
	m, err := cb.kitMarketplace(c)
	if err != nil {
		return err
	}
	s, err := kf.sender(c, m)
	if err != nil {
		return err
	}
	if s == nil {
		return usagef("--kit-key (or $%s) is required", envKitKey)
	}
	body, err := s.body(o)
	if err != nil {
		return err
	}
	req, err := s.sign(o.name, body, s.key)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "POST %s%s%s\n%s\n\n", m.display(), kitPath, o.name, req.body)
	a, err := s.send(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "HTTP %d in %s\n%s\n", a.status, roundDuration(a.elapsed), a.raw)
	return outcome(a, successCodes)
}

// body builds the call o describes.
func (s *kitSender) body(o kitOptions) (callbackBody, error) {
	now := s.m.now()
	switch o.name {
	case "tenantSync":
		return withKitTail(kitBody(o.instanceID, o.tenantID, field{"orderId", ""}, field{"tenantCode", o.tenantCode},
			field{"name", "Simulated Enterprise"}, field{"domainName", o.domain}), o.flag, o.debug, now), nil
	case "applicationSync":
		secret, err := s.encrypt(o.clientSecret)
		if err != nil {
			return nil, err
		}
		return withKitTail(kitBody(o.instanceID, o.tenantID, field{"appId", o.appID}, field{"clientId", o.clientID},
			field{"clientSecret", secret}), o.flag, o.debug, now), nil
	case "authSync":
		return withKitTail(kitBody(o.instanceID, o.tenantID, field{"appId", o.appID}, field{"userList", kitUsers(o.firstUser, o.users)},
			field{"currentSyncTime", kitTimeStamp(now)}), o.flag, o.debug, now), nil
	case "singleOrgSync":
		return withKitTail(kitBody(o.instanceID, o.tenantID, field{"orgCode", o.orgCode}, field{"orgName", o.orgName},
			field{"parentCode", o.parentCode}), o.flag, o.debug, now), nil
	}
	list, err := orgList(kitDepartments(o.departments), o.orgsAsString)
	if err != nil {
		return nil, err
	}
	return withKitTail(kitBody(o.instanceID, o.tenantID, field{"orgInfoList", list}), -1, o.debug, now), nil
}
