package telemetry

import (
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.uber.org/zap"
)

// logLimiter lets one log line through per period and counts the ones it
// held back, so that a condition repeating every few seconds (a collector
// that is down) is reported without flooding the log.
type logLimiter struct {
	period time.Duration
	now    func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newLogLimiter(period time.Duration) *logLimiter {
	return &logLimiter{period: period, now: time.Now}
}

// allow reports whether a line may be logged now and, if so, how many were
// held back since the last one.
func (l *logLimiter) allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.period {
		l.suppressed++
		return false, 0
	}
	l.last = now
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// reset makes the next line pass, as after a recovery.
func (l *logLimiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = time.Time{}
	l.suppressed = 0
}

// ErrorHandler returns an OpenTelemetry error handler that logs the SDK's
// errors (failed collections) at warning level, at most once per minute,
// with the number of errors held back in between. Failed OTLP exports
// (ExportError) are ExportStats' to log.
func ErrorHandler(log *zap.Logger) otel.ErrorHandler {
	limiter := newLogLimiter(logPeriod)
	return otel.ErrorHandlerFunc(func(err error) {
		if errors.As(err, new(ExportError)) {
			return
		}
		if ok, suppressed := limiter.allow(); ok {
			log.Warn("opentelemetry sdk error", zap.Int("errors_not_logged", suppressed), zap.Error(err))
		}
	})
}
