package authorizer

// FactVisitor receives the facts a Model holds from Model.Facts. Each
// function may be nil, skipping its kind of fact; an error stops the walk.
type FactVisitor struct {
	// Scope receives every known scope (placeholders, which grant nothing
	// and which the other facts recreate, are skipped).
	Scope func(Scope) error
	// Principal receives every known principal.
	Principal func(Principal) error
	// Membership receives every membership, placeholders' included.
	Membership func(Membership) error
	// Assignment receives every assignment.
	Assignment func(Assignment) error
	// APIKey receives every API key.
	APIKey func(APIKey) error
}

// Facts walks what m holds, under its read lock, in an order whose upserts
// (scopes, principals, memberships, assignments, API keys; with Load or the
// Upsert methods) into a Model holding the same custom roles rebuild one
// that decides every Check as m does: the history of access (issue 14)
// persists a model this way. Custom roles are not visited: the model keeps
// only their permission bits, and whoever upserts them knows them whole.
// The visitor must not call m's methods.
func (m *Model) Facts(v FactVisitor) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, step := range []func(FactVisitor) error{m.scopeFacts, m.principalFacts, m.membershipFacts, m.assignmentFacts, m.keyFacts} {
		if err := step(v); err != nil {
			return err
		}
	}
	return nil
}

// scopeFacts visits the known scopes, parents first. m.mu must be held.
func (m *Model) scopeFacts(v FactVisitor) error {
	if v.Scope == nil {
		return nil
	}
	for i := 1; i < len(m.scopes); i++ {
		if sc := &m.scopes[i]; sc.known {
			if err := v.Scope(Scope{Name: sc.name, ServiceType: sc.serviceType, DisplayName: sc.displayName}); err != nil {
				return err
			}
		}
	}
	return nil
}

// principalFacts visits the known principals. m.mu must be held.
func (m *Model) principalFacts(v FactVisitor) error {
	if v.Principal == nil {
		return nil
	}
	for i := 1; i < len(m.principals); i++ {
		pr := &m.principals[i]
		if !pr.known {
			continue
		}
		p := Principal{ID: pr.id, Kind: pr.kind, Status: pr.status, Everyone: pr.everyone, DisplayName: pr.displayName, Email: pr.email}
		if pr.org != 0 {
			p.Organization = m.scopes[pr.org].name
		}
		if err := v.Principal(p); err != nil {
			return err
		}
	}
	return nil
}

// membershipFacts visits every principal's groups. m.mu must be held.
func (m *Model) membershipFacts(v FactVisitor) error {
	if v.Membership == nil {
		return nil
	}
	for i := 1; i < len(m.principals); i++ {
		pr := &m.principals[i]
		for _, g := range pr.groups {
			if err := v.Membership(Membership{Group: m.principals[g].id, Member: pr.id}); err != nil {
				return err
			}
		}
	}
	return nil
}

// assignmentFacts visits the assignments. m.mu must be held.
func (m *Model) assignmentFacts(v FactVisitor) error {
	if v.Assignment == nil {
		return nil
	}
	for i := 1; i < len(m.assignments); i++ {
		a := &m.assignments[i]
		if a.subject == 0 {
			continue // free
		}
		err := v.Assignment(Assignment{
			ID: m.ids.id(a.id), Principal: m.principals[a.subject].id, Role: m.roles[a.role].id,
			Scope: m.scopes[a.scope].name, BuiltIn: a.builtIn,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// keyFacts visits the API keys. m.mu must be held.
func (m *Model) keyFacts(v FactVisitor) error {
	if v.APIKey == nil {
		return nil
	}
	for id, k := range m.keys {
		if err := v.APIKey(APIKey{ID: id, Principal: k.principal, Creator: k.creator}); err != nil {
			return err
		}
	}
	return nil
}
