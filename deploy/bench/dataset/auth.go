package dataset

import (
	"context"
	"sync"
	"time"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// tokenRefresh is how long the generator uses an access token before it
// signs in again: well inside the directory's default lifetime of 15
// minutes, so that a load of the large size, which takes longer, keeps
// going.
const tokenRefresh = 10 * time.Minute

// ownerCredentials is a grpc.PerRPCCredentials authenticating as the
// organization's owner with a token from SignIn, renewed every
// tokenRefresh.
type ownerCredentials struct {
	dir             directoryv1.DirectoryServiceClient
	org             string
	email, password string

	mu      sync.Mutex
	token   string
	expires time.Time
}

// GetRequestMetadata returns the owner's current bearer token, signing in
// when it is missing or old.
func (c *ownerCredentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
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
func (c *ownerCredentials) RequireTransportSecurity() bool { return false }
