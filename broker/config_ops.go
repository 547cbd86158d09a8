package broker

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/internal/alert"
)

// opsConfig is the result of validating the operations settings: access
// to the HTTP listener, history sampling and alert rules.
type opsConfig struct {
	authToken                string
	basicUser, basicPassword string
	authMetrics              bool
	historyInterval          time.Duration // 0: default
	historyWindow            time.Duration // 0: default
	alerts                   alert.Settings
}

// opsSettingNames are the http.* settings (alert.* keys are open-ended:
// see alert.ParseSettings).
var opsSettingNames = []string{
	"http.auth.basic", "http.auth.metrics", "http.auth.token",
	"http.history.interval", "http.history.window",
}

// isOpsKey reports whether resolveSettings leaves name to opsSettings.
func isOpsKey(name string) bool {
	return strings.HasPrefix(name, "http.") || strings.HasPrefix(name, alert.Prefix)
}

// parseOpsSettings validates the http.* and alert.* settings. Errors are
// *SettingError naming the setting.
func parseOpsSettings(vals map[string]string) (opsConfig, error) {
	var o opsConfig
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		v := vals[name]
		if !strings.HasPrefix(name, "http.") {
			continue
		}
		switch name {
		case "http.auth.token":
			if v == "" {
				return o, &SettingError{Name: name, Value: v, Reason: "empty token"}
			}
			o.authToken = v
		case "http.auth.basic":
			u, p, ok := strings.Cut(v, ":")
			if !ok || u == "" || p == "" {
				return o, &SettingError{Name: name, Value: "(hidden)", Reason: "want user:password"}
			}
			o.basicUser, o.basicPassword = u, p
		case "http.auth.metrics":
			b, err := parseBool(v)
			if err != nil {
				return o, &SettingError{Name: name, Value: v, Reason: err.Error()}
			}
			o.authMetrics = b
		case "http.history.interval", "http.history.window":
			d, err := time.ParseDuration(v)
			if err != nil || d < 100*time.Millisecond || d > 24*time.Hour {
				return o, &SettingError{Name: name, Value: v, Reason: "want a duration from 100ms to 24h (e.g. 10s, 1h)"}
			}
			if name == "http.history.interval" {
				o.historyInterval = d
			} else {
				o.historyWindow = d
			}
		default:
			return o, &SettingError{Name: name, Value: v, Reason: "unknown setting" + suggest(name)}
		}
	}
	if o.historyInterval > 0 && o.historyWindow > 0 && o.historyWindow < o.historyInterval {
		return o, &SettingError{Name: "http.history.window", Value: o.historyWindow.String(), Reason: "shorter than http.history.interval"}
	}
	a, err := alert.ParseSettings(vals)
	if err != nil {
		var ke *alert.KeyError
		if errors.As(err, &ke) {
			return o, &SettingError{Name: ke.Key, Value: ke.Value, Reason: ke.Reason}
		}
		return o, &SettingError{Name: "alert.*", Reason: err.Error()}
	}
	o.alerts = a
	return o, nil
}
