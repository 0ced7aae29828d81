// Members (issue 16 point 3): users, departments, groups, robots and robot
// accounts, external apps — each a tab, each with its own sub-paths:
//   /members, /members/users          the users list (filters in the query)
//   /members/users/<id>               a user and their groups
//   /members/departments              the tree (?department=<id> selected)
//   /members/groups, /members/groups/<id>
//   /members/robots, /members/robots/accounts, /members/robots/accounts/<id>
//   /members/external-apps, /members/external-apps/<id>
import type { PageProps } from "../../app";
import { PageHeader, Tabs } from "../../ui/components";
import { DepartmentsPage } from "./departments";
import { GroupPage, GroupsPage } from "./groups";
import { ExternalAppPage, ExternalAppsPage, RobotAccountPage, RobotAccountsPage, RobotsPage } from "./principals";
import { UserPage, UsersPage } from "./users";
import "./members.css";

const tabs: Array<[string, string]> = [
  ["/members/users", "Users"],
  ["/members/departments", "Departments"],
  ["/members/groups", "Groups"],
  ["/members/robots", "Robots"],
  ["/members/external-apps", "External apps"],
];

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a malformed escape: the ID is then not found, said in words
  }
}

/** MembersPage is the Members section: its tabs and the sub-page the path names. */
export function MembersPage({ loc }: PageProps) {
  // ["members", tab, id, …]
  const parts = loc.path.split("/").filter(Boolean).map(decode);
  const tab = parts[1] ?? "users";
  const current = tabs.find(([href]) => href === "/members/" + tab)?.[0] ?? "/members/users";
  let page;
  switch (tab) {
    case "departments":
      page = <DepartmentsPage loc={loc} />;
      break;
    case "groups":
      page = parts[2] ? <GroupPage id={parts[2]} /> : <GroupsPage loc={loc} />;
      break;
    case "robots":
      page = (
        <>
          <Tabs
            label="Robots and robot accounts"
            current={parts[2] === "accounts" ? "/members/robots/accounts" : "/members/robots"}
            tabs={[
              ["/members/robots", "Robots"],
              ["/members/robots/accounts", "Robot accounts"],
            ]}
          />
          {parts[2] !== "accounts" ? <RobotsPage loc={loc} /> : parts[3] ? <RobotAccountPage id={parts[3]} /> : <RobotAccountsPage loc={loc} />}
        </>
      );
      break;
    case "external-apps":
      page = parts[2] ? <ExternalAppPage id={parts[2]} /> : <ExternalAppsPage loc={loc} />;
      break;
    default:
      page = parts[2] ? <UserPage id={parts[2]} /> : <UsersPage loc={loc} />;
  }
  return (
    <>
      <PageHeader title="Members" />
      <Tabs label="Members" tabs={tabs} current={current} />
      {page}
    </>
  );
}
