package server

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/services/directory/domain"
)

// keyUpkeepInterval is how often the directory looks whether the signing
// key is due for rotation and whether retired keys can go.
const keyUpkeepInterval = time.Minute

// RotateSigningKeys rotates the token signing keys now (issue 9 item 9).
// Internal.
func (s *directoryServer) RotateSigningKeys(ctx context.Context, _ *directoryv1.RotateSigningKeysRequest) (*directoryv1.RotateSigningKeysResponse, error) {
	at, err := s.d.RotateSigningKeys(ctx, actorOf(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &directoryv1.RotateSigningKeysResponse{RotateTime: timestamppb.New(at)}, nil
}

// rotateKeys rotates d's signing keys every `every` (never when 0 or less)
// and drops retired keys once their tokens have expired, until ctx is done.
// A failure is logged and tried again at the next tick.
func rotateKeys(ctx context.Context, d *domain.Service, every time.Duration, logger *slog.Logger) error {
	ticker := time.NewTicker(keyUpkeepInterval)
	defer ticker.Stop()
	for {
		at, err := d.RotateSigningKeysIfDue(ctx, every)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Error("directory: token signing key upkeep failed", "error", err)
		case !at.IsZero():
			logger.Info("directory: rotated the token signing keys", "rotate_time", at)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}
