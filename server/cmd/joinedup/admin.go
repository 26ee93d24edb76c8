package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
)

// firstAdminHint is what the banner says on a database with nobody in it.
const firstAdminHint = "No staff accounts yet. Create the first admin (prints a one-time link to set their password):\n" +
	"  joinedup admin create --email you@example.org --name \"Your Name\"\n"

// runAdmin is `joinedup admin create --email E --name N [-data DIR] [-url URL]`:
// it adds an admin and prints a one-time link to set their password. It
// works beside a running server (the store serialises the write), so a first
// admin can be made in the container with `docker exec`. Exit status 0:
// created; 1: refused (duplicate e-mail, bad input); 2: usage.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: joinedup admin create --email ADDRESS --name NAME [-data DIR | -store postgres -database-url URL] [-url PUBLIC_URL]")
		return 2
	}
	fs := flag.NewFlagSet("joinedup admin create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := DefaultConfig()
	dir := fs.String("data", def.DataDir, "data directory (default $DATA_DIR or ./data)")
	sc := storeFlags(fs, def.Store)
	email := fs.String("email", "", "the admin's e-mail address (their sign-in name)")
	name := fs.String("name", "", "the admin's name")
	url := fs.String("url", envOr("PUBLIC_URL", "http://"+def.Addr), "the address staff reach the server at (default $PUBLIC_URL)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(*email))
	if err != nil || addr.Name != "" {
		fmt.Fprintf(stderr, "admin create: --email %q is not an e-mail address\n", *email)
		return 1
	}
	if strings.TrimSpace(*name) == "" {
		fmt.Fprintln(stderr, "admin create: --name is required")
		return 1
	}
	db, err := openToolStore(ctx, *sc, *dir)
	if err != nil {
		fmt.Fprintf(stderr, "admin create: %v\n", err)
		return 1
	}
	defer db.Close()
	link, err := createAdmin(ctx, db, strings.ToLower(addr.Address), strings.TrimSpace(*name), strings.TrimRight(*url, "/"))
	if err != nil {
		fmt.Fprintf(stderr, "admin create: %v\n", domain.ErrorMessage(err))
		return 1
	}
	fmt.Fprintf(stdout, "Admin %s <%s> created.\nOpen this link within %s to set their password (it works once):\n  %s\n",
		strings.TrimSpace(*name), addr.Address, signin.LinkTTL, link)
	return 0
}

// createAdmin adds the admin and returns their set-password link.
func createAdmin(ctx context.Context, db Store, email, name, baseURL string) (string, error) {
	if _, err := db.PersonByEmail(ctx, email); err == nil {
		return "", domain.Errorf(domain.ECONFLICT, "admin create", "%s already has an account; an admin can issue a reset link in the portal", email)
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return "", err
	}
	p := domain.Person{ID: "admin_" + hex.EncodeToString(id), Name: name, Email: email, Role: domain.RoleAdmin}
	if err := db.UpsertPerson(ctx, p); err != nil {
		return "", err
	}
	tok := signin.NewToken()
	if err := db.CreatePasswordToken(ctx, domain.PasswordToken{TokenHash: signin.HashToken(tok), PersonID: p.ID,
		Purpose: domain.PasswordSet, CreatedBy: "cli", Expires: time.Now().Add(signin.LinkTTL)}); err != nil {
		return "", err
	}
	return baseURL + "/portal/set-password?token=" + tok, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
