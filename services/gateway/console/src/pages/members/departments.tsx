// Departments: the tree (each branch read when opened), the selected
// department (in the URL's query) with create-child, rename and delete, and
// the users of the selected department and those below it.

import { useEffect, useState } from "preact/hooks";
import { del, get, patch } from "../../api";
import type { Location } from "../../router";
import { setQuery } from "../../router";
import { Badge, Dialog, ErrorBanner, Form, formatTime, lastSegment, SubmitCancel, TextField } from "../../ui/components";
import { useAsync } from "../../ui/hooks";
import { Tree } from "../../ui/tree";
import { ConfirmDialog, DepartmentName, Details, SectionHead, useDepartmentTree, type Confirmation } from "./common";
import { child, createNamed, departmentOf, forgetDepartment, org, rootDepartment, type Department } from "./model";
import { UserDialog, UsersTable } from "./users";

/** DepartmentDialog creates a child of parent (no department given) or renames one. */
function DepartmentDialog(props: { open: boolean; parent?: Department; department?: Department; onClose: () => void; onSaved: (d: Department) => void }) {
  const title = props.department ? "Rename department" : "New department";
  return (
    <Dialog title={title} open={props.open} onClose={props.onClose}>
      <DepartmentForm {...props} title={title} />
    </Dialog>
  );
}

function DepartmentForm(props: { title: string; parent?: Department; department?: Department; onClose: () => void; onSaved: (d: Department) => void }) {
  const [name, setName] = useState(props.department?.displayName ?? "");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const d = props.department;
      const saved = d
        ? await patch<Department>(d.name, { displayName: name.trim(), etag: d.etag }, { updateMask: "display_name" })
        : await createNamed<Department>(`${org()}/departments`, "departmentId", name.trim(), { displayName: name.trim(), parentDepartment: props.parent?.name });
      props.onSaved(saved);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Form onSubmit={submit} label={props.title}>
      {props.parent ? <p class="hint">Under {props.parent.displayName}.</p> : null}
      <ErrorBanner error={error} />
      <TextField label="Name" value={name} onInput={setName} field="department.display_name" error={error} required />
      <SubmitCancel label={props.department ? "Rename" : "Create department"} busy={busy} onCancel={props.onClose} />
    </Form>
  );
}

/** ancestors are the departments above name, the root first. */
async function ancestors(name: string): Promise<string[]> {
  const out: string[] = [];
  let d = await departmentOf(name);
  while (d.parentDepartment && out.length < 100) {
    out.unshift(d.parentDepartment);
    d = await departmentOf(d.parentDepartment);
  }
  return out;
}

/** DepartmentsPage is /members/departments: the tree, the selected department and its users. */
export function DepartmentsPage({ loc }: { loc: Location }) {
  const id = loc.query.get("department");
  const selected = id ? child("departments", id) : rootDepartment();
  const model = useDepartmentTree();
  const [version, setVersion] = useState(0);
  const [dialog, setDialog] = useState<"" | "create" | "rename" | "user">("");
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  const [usersVersion, setUsersVersion] = useState(0);
  const dept = useAsync(() => get<Department>(selected), [selected, version]);

  // A link to a department deep in the tree opens the branches above it.
  useEffect(() => {
    ancestors(selected).then(
      (up) => up.forEach((a) => model.setOpen(a, true)),
      () => undefined, // the page shows why the department cannot be read
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const d = dept.data;
  const parentOf = (x: Department) => x.parentDepartment ?? "";
  const changed = (x: Department) => {
    forgetDepartment(x.name);
    model.reload(parentOf(x));
    setVersion((v) => v + 1);
  };
  return (
    <>
      <SectionHead title="Departments" />
      <div class="split">
        <nav aria-label="Department tree" class="tree-pane">
          <Tree
            model={model}
            label="Departments"
            selected={selected}
            onSelect={(x) => setQuery({ department: x.root ? "" : lastSegment(x.name) }, false)}
            hrefOf={(x) => `/members/departments${x.root ? "" : "?department=" + lastSegment(x.name)}`}
            render={(x) => x.displayName || lastSegment(x.name)}
          />
        </nav>
        <section aria-labelledby="department-title" class="department-pane">
          <ErrorBanner error={dept.error} />
          {d ? (
            <>
              <div class="section-head">
                <h2 id="department-title">
                  {d.displayName} {d.root ? <Badge>Root</Badge> : null}
                </h2>
                <div class="actions">
                  <button type="button" onClick={() => setDialog("create")}>
                    New department
                  </button>
                  <button type="button" onClick={() => setDialog("rename")}>
                    Rename
                  </button>
                  <button
                    type="button"
                    class="danger"
                    onClick={() =>
                      setConfirm({
                        title: "Delete department",
                        message: `${d.displayName} will be deleted. Only an empty department can be: move its users and delete its departments first.`,
                        action: "Delete",
                        run: () => del(d.name, { etag: d.etag }),
                        done: () => {
                          forgetDepartment(d.name);
                          model.reload(parentOf(d));
                          const up = parentOf(d);
                          setQuery({ department: up && up !== rootDepartment() ? lastSegment(up) : "" });
                        },
                      })
                    }
                  >
                    Delete
                  </button>
                </div>
              </div>
              <Details
                rows={[
                  ["Parent", d.parentDepartment ? <DepartmentName name={d.parentDepartment} /> : null],
                  ["Created", formatTime(d.createTime)],
                  ["Resource name", <code>{d.name}</code>],
                ]}
              />
              <SectionHead level={3} title={`Users in ${d.displayName}`}>
                <button type="button" class="primary" onClick={() => setDialog("user")}>
                  Create user
                </button>
              </SectionHead>
              <p class="hint">Including the departments below it.</p>
              <UsersTable filter={{ department: d.name }} caption={`Users in ${d.displayName}`} version={usersVersion} empty="Nobody is in this department." />
              <DepartmentDialog
                open={dialog === "create"}
                parent={d}
                onClose={() => setDialog("")}
                onSaved={() => {
                  setDialog("");
                  model.reload(d.name);
                  model.setOpen(d.name, true);
                }}
              />
              <DepartmentDialog
                open={dialog === "rename"}
                department={d}
                onClose={() => setDialog("")}
                onSaved={(x) => {
                  setDialog("");
                  changed(x);
                }}
              />
              <UserDialog
                open={dialog === "user"}
                department={d.name}
                onClose={() => setDialog("")}
                onSaved={() => {
                  setDialog("");
                  setUsersVersion((v) => v + 1);
                }}
              />
            </>
          ) : dept.loading ? (
            <p class="muted">Loading…</p>
          ) : null}
          <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
        </section>
      </div>
    </>
  );
}
