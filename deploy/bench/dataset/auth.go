package dataset

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// tokenRefresh is how long a client uses an access token before it
// signs in again: well inside the directory's default lifetime of 15
// minutes, so that a load of the large size, which takes longer, keeps
// going.
const tokenRefresh = 10 * time.Minute

// Credentials are a user's password credentials in a dataset's
// organization.
type Credentials struct {
	// Email identifies the user.
	Email string `json:"email"`
	// Password is the user's password.
	Password string `json:"password"`
}

// PerRPC returns call credentials authenticating as the user of c in org
// with an access token that dir's SignIn issues, renewed every
// tokenRefresh. dir must not itself use them.
func (c Credentials) PerRPC(dir directoryv1.DirectoryServiceClient, org string) credentials.PerRPCCredentials {
	return &passwordCredentials{dir: dir, org: org, email: c.Email, password: c.Password}
}

// passwordCredentials is a grpc.PerRPCCredentials authenticating as a
// user with a token from SignIn, renewed every tokenRefresh.
type passwordCredentials struct {
	dir             directoryv1.DirectoryServiceClient
	org             string
	email, password string

	mu      sync.Mutex
	token   string
	expires time.Time
}

// GetRequestMetadata returns the user's current bearer token, signing in
// when it is missing or old.
func (c *passwordCredentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" || time.Now().After(c.expires) {
		resp, err := c.dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: c.org, Credential: &directoryv1.SignInRequest_Password{
			Password: &directoryv1.PasswordCredential{Email: c.email, Password: c.password}}})
		if err != nil {
			return nil, err
		}
		c.token, c.expires = resp.GetAccessToken(), time.Now().Add(tokenRefresh)
	}
	return map[string]string{"authorization": "Bearer " + c.token}, nil
}

// RequireTransportSecurity reports false: the suite is reached over
// loopback in plaintext, as `make run` serves it.
func (c *passwordCredentials) RequireTransportSecurity() bool { return false }
