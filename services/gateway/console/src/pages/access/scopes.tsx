// Creating a node of the scope tree under the selected one: a tenant under
// the organization, a service under a tenant, a folder under an
// Orchestrator service or folder, a project under a service.

import { useState } from "preact/hooks";
import { post } from "../../api";
import { Dialog, ErrorBanner, Form, SelectField, TextField } from "../../ui/components";
import { useAsync } from "../../ui/hooks";
import { permissionCatalogue, serviceTypeWord, type ScopeNode } from "./model";

/** What can be created under a node, and how. */
interface Creatable {
  /** "folder": the button says "New folder". */
  noun: string;
  /** The collection ("folders") and the create request's ID field ("folder_id"). */
  collection: string;
  idField: string;
  /** The JSON body's resource key's proto field ("folder"), for its violations. */
  resource: string;
}

const tenant: Creatable = { noun: "tenant", collection: "tenants", idField: "tenantId", resource: "tenant" };
const service: Creatable = { noun: "service", collection: "services", idField: "serviceId", resource: "service" };
const folder: Creatable = { noun: "folder", collection: "folders", idField: "folderId", resource: "folder" };
const subfolder: Creatable = { ...folder, noun: "subfolder" };
const project: Creatable = { noun: "project", collection: "projects", idField: "projectId", resource: "project" };

function creatableUnder(node: ScopeNode): Creatable[] {
  switch (node.kind) {
    case "SCOPE_KIND_ORGANIZATION":
      return [tenant];
    case "SCOPE_KIND_TENANT":
      return [service];
    case "SCOPE_KIND_SERVICE":
      return node.serviceType === "orchestrator" ? [folder, project] : [project];
    case "SCOPE_KIND_FOLDER":
      return [subfolder];
    default:
      return [];
  }
}

/** snake is a request field's proto name ("folderId" → "folder_id"), as violations name it. */
function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

function NewScopeDialog({ node, what, onClose, onCreated }: { node: ScopeNode; what: Creatable; onClose: () => void; onCreated: (name: string) => void }) {
  const [displayName, setDisplayName] = useState("");
  const [id, setId] = useState("");
  const [description, setDescription] = useState("");
  const [type, setType] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  // The service types are those the permission catalogue registers.
  const types = useAsync(
    async () => (what === service ? [...new Set((await permissionCatalogue()).map((p) => p.serviceType ?? "").filter(Boolean))] : []),
    [what],
  );
  const submit = async () => {
    setBusy(true);
    try {
      const body: Record<string, string> = { displayName, description };
      if (what === service) body.type = type || types.data?.[0] || "";
      const created = await post<{ name: string }>(`${node.name}/${what.collection}`, body, { [what.idField]: id.trim() });
      onCreated(created.name);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Form onSubmit={submit} label={`New ${what.noun}`}>
      <ErrorBanner error={error} />
      <TextField label="Display name" value={displayName} onInput={setDisplayName} field={`${what.resource}.display_name`} error={error} required />
      <TextField
        label="ID"
        value={id}
        onInput={setId}
        field={snake(what.idField)}
        error={error}
        hint="Optional: lowercase letters, digits and dashes, starting with a letter. Empty lets Steward choose."
      />
      {what === service ? (
        <SelectField
          label="Type"
          value={type || types.data?.[0] || ""}
          onInput={setType}
          field="service.type"
          error={error}
          options={(types.data ?? []).map((t) => [t, serviceTypeWord(t)])}
        />
      ) : null}
      <TextField label="Description" value={description} onInput={setDescription} field={`${what.resource}.description`} error={error} />
      <div class="actions-row">
        <button type="submit" class="primary" disabled={busy || !displayName.trim()}>
          Create
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </Form>
  );
}

/**
 * NewScopeButtons are the "New tenant" / "New service" / "New folder" /
 * "New project" buttons of the selected node; onCreated gets the new
 * node's name.
 */
export function NewScopeButtons({ node, onCreated }: { node: ScopeNode; onCreated: (name: string) => void }) {
  const [open, setOpen] = useState<Creatable | null>(null);
  const can = creatableUnder(node);
  return (
    <>
      {can.map((c) => (
        <button type="button" onClick={() => setOpen(c)}>
          New {c.noun}
        </button>
      ))}
      <Dialog title={open ? `New ${open.noun} in ${node.displayName}` : ""} open={!!open} onClose={() => setOpen(null)}>
        {open ? (
          <NewScopeDialog
            key={node.name + open.noun}
            node={node}
            what={open}
            onClose={() => setOpen(null)}
            onCreated={(name) => {
              setOpen(null);
              onCreated(name);
            }}
          />
        ) : null}
      </Dialog>
    </>
  );
}
