package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/server/push"
)

// pushConfigFromEnv reads FCM_PROJECT_ID, FCM_CREDENTIALS_FILE (a service
// account JSON) and FCM_ENDPOINT (a fake FCM for tests and benchmarks).
func pushConfigFromEnv() push.Config {
	return push.Config{ProjectID: os.Getenv("FCM_PROJECT_ID"), CredentialsFile: os.Getenv("FCM_CREDENTIALS_FILE"),
		Endpoint: os.Getenv("FCM_ENDPOINT")}
}

func pushFlags(fs *flag.FlagSet, c *push.Config) {
	fs.StringVar(&c.ProjectID, "fcm-project", c.ProjectID, "Firebase project id (default $FCM_PROJECT_ID); without it notifications are only logged")
	fs.StringVar(&c.CredentialsFile, "fcm-credentials", c.CredentialsFile, "FCM service-account JSON file (default $FCM_CREDENTIALS_FILE)")
	fs.StringVar(&c.Endpoint, "fcm-endpoint", c.Endpoint, "FCM endpoint root replacing https://fcm.googleapis.com (default $FCM_ENDPOINT)")
	// With several nodes, a node killed mid-send holds its claims until the
	// lease ends; then another node sends them (at least once, same nid).
	fs.DurationVar(&c.Lease, "push-lease", c.Lease, "how long a node's claim on due notifications is exclusive (0: 2m)")
	fs.DurationVar(&c.PollInterval, "push-poll", c.PollInterval, "how often each node looks for due notifications (0: 5s)")
}

// mountPush wires notifications: the rules (server/notify) plan every
// accepted change and the store writes what they ask for in the same
// transaction; installed after the demo load so history pages nobody; devices register tokens at POST /v1/push/token; a Deliverer
// (FCM, or a LogSender when FCM is not configured) drains the outbox until
// Close.
func mountPush(m *Main) error {
	m.setRules(notify.New(notify.Config{Planner: push.DefaultPlanner(), Logger: m.Logger}))
	m.API.MountPush(m.Push)

	cfg := m.Config.Push
	cfg.Logger = m.Logger
	d, desc, err := push.New(context.Background(), cfg, m.Push)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	m.Deliverer = d
	m.Logger.Info(desc)
	if !cfg.Enabled() {
		fmt.Fprintf(m.Out, "Push notifications are only logged: FCM is not configured (set FCM_PROJECT_ID and FCM_CREDENTIALS_FILE).\n")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			m.Logger.Error("push delivery stopped", "err", err.Error())
		}
	}()
	m.stopPush = func() { cancel(); <-done }
	return nil
}
