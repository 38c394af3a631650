package httpapi

import (
	"net/http"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// loginAnswer is a patient's login: the access token ("token", as before),
// its expiry, and the refresh token that gets the next one.
type loginAnswer struct {
	app.Tokens
	Account fairslot.Account `json:"account"`
}

// refresh spends a refresh token for a new access token and the next
// refresh token (rotation; a replayed spent token revokes its login). It
// needs no bearer token: the access token has usually expired.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a := Anonymous(r)
	if s.Door != nil {
		a.Device = s.Door.Device(r)
	}
	toks, err := s.App.Refresh(r.Context(), a, in.RefreshToken)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toks)
}
