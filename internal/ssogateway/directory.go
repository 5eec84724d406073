package ssogateway

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kooper-io/kooper/internal/directory"
)

// directoryReload is how long the authorised users read from the mounted
// directory are trusted before they are read again: an authorisation the
// kit cancels (authSync flag 3) takes effect within the kubelet's update
// of the Secret plus this.
const directoryReload = 10 * time.Second

// authoriser answers whether a user is authorised for an application, from
// the users shards of the tenant's directory (users-NNN.json: JSON arrays
// of authSync users, each with the appId it was authorised for; see
// internal/directory).
type authoriser struct {
	dir string
	now func() time.Time

	mu       sync.Mutex
	loadedAt time.Time
	users    map[string]bool // appId + "/" + userName of every enabled user
	err      error
}

// userEnable is what the gateway reads of a user beside its key: the kit
// sends enable as the text "true" or "false" (spec §3.11.3); a user whose
// enable is "false" is not admitted.
type userEnable struct {
	Enable json.RawMessage `json:"enable"`
}

// authorised says whether userName is an enabled user of appID. An error
// means the directory could not be read: nobody is admitted.
func (a *authoriser) authorised(appID, userName string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users == nil || a.now().Sub(a.loadedAt) >= directoryReload {
		a.users, a.err = loadUsers(a.dir)
		a.loadedAt = a.now()
	}
	if a.err != nil {
		return false, a.err
	}
	return a.users[appID+"/"+userName], nil
}

// loadUsers reads every users shard of dir.
func loadUsers(dir string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "users-*.json"))
	if err != nil {
		return nil, err
	}
	users := map[string]bool{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("failed to read the directory shard %s: %w", filepath.Base(file), err)
		}
		var entries []json.RawMessage
		if err := json.Unmarshal(data, &entries); err != nil {
			return nil, fmt.Errorf("the directory shard %s is not a JSON array of users", filepath.Base(file))
		}
		for _, entry := range entries {
			// Read as the receiver keyed it (internal/directory): only appId
			// and userName matter, and any other field may be of any type.
			// An entry without a readable key admits nobody, and only it.
			appID, name, err := directory.ReadUser(entry)
			var u userEnable
			if err != nil || name == "" || json.Unmarshal(entry, &u) != nil {
				continue
			}
			if scalar(u.Enable) != "false" {
				users[directory.UserKey(appID, name)] = true
			}
		}
	}
	return users, nil
}

// scalar is a JSON string's value, or a number's or boolean's text.
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	text := strings.TrimSpace(string(raw))
	if text == "null" || strings.HasPrefix(text, "{") || strings.HasPrefix(text, "[") {
		return ""
	}
	return text
}
