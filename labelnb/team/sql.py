"""The SQL of team security, as one versioned block that ``labelnb team init`` runs.

Everything the database enforces lives here: the three group roles, what each may
read and write (grants), what rows it may see (row-level security policies), the
``SECURITY DEFINER`` functions through which members claim, heartbeat, submit, skip
and review, the triggers that keep ``events`` and ``annotations`` append-only, and
the admin-only functions (adding members, changing roles, the audited maintenance
path). The client side of those functions (the statements that call them) is in
:mod:`labelnb.queue.queries`, section "team security".

The block is a template: ``@schema@``, ``@admin@``, ``@reviewer@``, ``@annotator@``
are replaced by quoted identifiers, ``@..._lit@`` by quoted literals, and the
``@claim_*@`` parts by the claim that the client-side queue also runs
(:func:`labelnb.queue.queries.claim_where` / :func:`~labelnb.queue.queries.pg_claim_sql`),
so both claims pick tasks by the same rules. Running it again is safe (``CREATE OR
REPLACE``, policies and triggers are dropped and re-created, functions whose signature
changed since an earlier version are dropped first, and revoking a table's privileges
revokes its column grants too) and is how a database upgraded by ``labelnb migrate``
gets the grants for new tables, and one with an earlier block the current one.

The admin group is cluster-wide, but what a lead may see and do is scoped to the
projects they lead (an active ``lead`` row in ``annotators``): the admin policies,
``labelnb_require_admin(project)`` and the claim's adjudication check read that row.

Every function that runs with the owner's rights sets ``search_path`` to
``pg_catalog``, the project's schema, then ``pg_temp``, so a member cannot redirect it
to objects of their own, and identifies the caller by ``session_user``: the login role,
which ``SET ROLE`` does not change. A pinned path is not enough by itself: PostgreSQL
picks the operator (or function) whose argument types match best among *all* schemas on
the path, so an ``OPERATOR = (varchar, text)`` that a member created in the project's
schema would beat ``pg_catalog``'s ``=(text, text)`` and run as the owner inside these
functions. The block therefore revokes ``CREATE`` on the schema from ``PUBLIC`` and the
three groups, and :func:`labelnb.team.roles.install` refuses a schema in which any other
role that is not the owner may still create objects (:data:`SCHEMA_CREATORS`).
"""

from __future__ import annotations

import json
import re

from labelnb.queue import queries as q
from labelnb.queue.routing import DefaultRouting
from labelnb.schema import REGION_TYPES
from labelnb.types import Box, Choice, Mask, Polygon, Span

#: Bumped whenever the block changes; ``labelnb_team_info()`` reports the installed one.
TEAM_SQL_VERSION = 8

#: what ``labelnb team init`` holds while it installs the block: one install at a time in
#: a database (two %s parameters: :data:`labelnb.team.roles.INSTALL_LOCK`)
INSTALL_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s, %s)"

#: the event ``labelnb team init`` logs (a %s parameter: the JSON payload)
TEAM_INIT_EVENT = ("INSERT INTO events (project_id, kind, actor, payload, created_at) "
                   "VALUES (NULL, 'team_init', session_user, %s, now())")

#: The labelnb tables team security covers (``alembic_version`` is only granted).
TABLES = ("projects", "schemas", "items", "annotators", "tasks", "leases", "annotations",
          "reviews", "predictions", "events", "gold_answers")
MEMBER_READ = ("alembic_version", "projects", "schemas", "items", "annotators", "tasks",
               "leases", "annotations", "reviews", "predictions")
ADMIN_INSERT = ("projects", "schemas", "items", "annotators", "tasks", "leases", "annotations",
                "reviews", "predictions", "events", "gold_answers")
ADMIN_UPDATE = ("projects", "tasks", "annotators")
#: Columns of ``tasks`` members may not read: the model's predicted label of the item, and
#: the difficulty (1 - the model's confidence, or the annotators' disagreement) with the
#: priority computed from it. With ``hide_predictions`` they would give the prediction away;
#: the claim (a definer function) reads them for routing. Every other column is granted.
TASKS_HIDDEN = q.MEMBER_HIDDEN_TASK_COLUMNS

#: Functions every member may call; the review function needs the reviewer (or admin)
#: group; the rest are the admin's.
MEMBER_FUNCTIONS = (
    "labelnb_team_info()",
    "labelnb_claim(bigint, text, text)",
    "labelnb_peek(bigint, text, integer)",
    "labelnb_heartbeat(bigint, text)",
    "labelnb_return(bigint, text, text, text)",
    "labelnb_submit(bigint, text, text, jsonb, timestamptz, double precision, text, jsonb, "
    "text, integer)",
    "labelnb_acknowledge(bigint, text)",
    "labelnb_skip_retraining(bigint, text, text)",
)
REVIEW_FUNCTIONS = (
    "labelnb_review(bigint, text, text, text, text, jsonb, timestamptz, double precision, "
    "integer)",
)
ADMIN_FUNCTIONS = (
    "labelnb_team_add(bigint, text, text, text)",
    "labelnb_team_set_role(bigint, text, text)",
    "labelnb_team_remove(bigint, text)",
    "labelnb_maintenance_delete_annotation(text, text)",
)
#: Read by the admin group's row-level security policies (the projects the caller leads).
POLICY_FUNCTIONS = ("labelnb_lead_projects()",)
INTERNAL_FUNCTIONS = (
    "labelnb_check_lease(bigint, text, text)",
    "labelnb_check_regions(bigint, bigint, bigint, jsonb, integer)",
    "labelnb_is_owner()",
    "labelnb_require_admin(bigint)",
    "labelnb_sync_groups(text)",
    "labelnb_events_stamp()",
    "labelnb_append_only()",
)

PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: The fields each region type needs besides ``type`` and ``label``, with their JSON
#: types (what the types' ``from_json`` read): ``labelnb_check_regions`` refuses a region
#: without them, which would break every reader of the project's annotations.
REGION_FIELDS: dict[str, dict[str, str]] = {
    Box.type: {"x0": "number", "y0": "number", "x1": "number", "y1": "number"},
    Polygon.type: {"points": "array"},
    Mask.type: {"rle": "object"},
    Span.type: {"start": "integer", "end": "integer"},
    Choice.type: {},
}

#: The roles besides the owner of the tables (and superusers) that may create objects in
#: the schema (%(schema)s): its owner and every grantee of CREATE, ``PUBLIC`` for grantee 0,
#: ``pg_database_owner`` as the database's owner. Any one of them could plant an operator
#: or function that the definer functions would run as the owner; ``labelnb team init``
#: revokes CREATE from PUBLIC and the groups, then refuses while this lists anyone.
SCHEMA_CREATORS = """
WITH s AS (SELECT n.oid, n.nspowner, n.nspacl FROM pg_namespace AS n
            WHERE n.nspname = %(schema)s),
o AS (SELECT c.relowner AS owner FROM pg_class AS c
       WHERE c.oid = to_regclass(format('%%I.tasks', %(schema)s))),
g AS (SELECT s.nspowner AS who FROM s
      UNION
      SELECT a.grantee FROM s, aclexplode(coalesce(s.nspacl, acldefault('n', s.nspowner))) AS a
       WHERE a.privilege_type = 'CREATE'),
w AS (SELECT g.who, CASE WHEN g.who <> 0 AND pg_get_userbyid(g.who) = 'pg_database_owner'
                         THEN (SELECT d.datdba FROM pg_database AS d
                                WHERE d.datname = current_database())
                         ELSE g.who END AS eff
        FROM g)
SELECT CASE WHEN w.who = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(w.who) END AS name
  FROM w, o
 WHERE w.eff = 0
    OR NOT (EXISTS (SELECT 1 FROM pg_roles AS r WHERE r.oid = w.eff AND r.rolsuper)
            OR pg_has_role(w.eff, o.owner, 'USAGE'))
 ORDER BY 1"""

_SEEN = """EXISTS (SELECT 1 FROM tasks AS seen WHERE seen.item_id = @tbl@.item_id
      AND seen.assignee = session_user::text
      AND ((seen.stage = 'annotate' AND seen.status = 'done')
           OR (seen.stage IN ('review', 'adjudicate') AND seen.status IN ('leased', 'done'))))"""
_MEMBER = """EXISTS (SELECT 1 FROM annotators AS me WHERE me.project_id = @tbl@.@col@
      AND me.name = session_user::text AND me.active)"""
# the projects the caller leads, as an array for ``= ANY``; the scalar subquery is an
# InitPlan, computed once per statement, not per row
_LEADS = "((SELECT labelnb_lead_projects())::bigint[])"
# the lease functions: the caller is still an active member of the task's project (what
# the claim checks); a removed member's lease is refused, see labelnb_check_lease
_ACTIVE = """EXISTS (SELECT 1 FROM annotators AS me WHERE me.project_id = tasks.project_id
      AND me.name = v_me AND me.active)"""
# a uniform draw in [0, 1) for the review sample and the gold draw: from the server's
# strong random source (gen_random_uuid; its first 32 bits are random), which, unlike
# random(), the caller cannot seed (setseed) nor steer through a value they choose
_UNIFORM = ("(('x' || left(replace(gen_random_uuid()::text, '-', ''), 8))::bit(32)::bigint"
            " / 4294967296.0)")

_ROUTING = """
 AND (v_p.quals IS NULL OR tasks.required_skill IS NULL OR tasks.required_skill = ANY(v_p.quals))
 AND (v_p.langs IS NULL OR tasks.language IS NULL OR tasks.language = ANY(v_p.langs))
 AND (v_p.weak IS NULL OR tasks.focus_label IS NULL OR NOT (tasks.focus_label = ANY(v_p.weak)))
 AND (v_p.maxdiff IS NULL OR tasks.difficulty IS NULL OR tasks.difficulty < v_p.maxdiff)"""

# The caller's membership of the project and the routing filters of their profile:
# labelnb.queue.routing.DefaultRouting.filters in one query (its defaults rendered from
# the dataclass), run at the start of the claim and the peek, into the record v_p.
_PROFILE = """
  SELECT an.role::text AS role, an.qualifications, pr.settings,
    CASE WHEN r.pol = 'default'
         THEN ARRAY(SELECT jsonb_array_elements_text(an.qualifications)) END AS quals,
    CASE WHEN r.pol = 'default'
         THEN ARRAY(SELECT jsonb_array_elements_text(an.languages)) END AS langs,
    CASE WHEN r.pol = 'default' THEN NULLIF(ARRAY(
      SELECT sk.key FROM jsonb_each_text(an.skills) AS sk
      WHERE sk.value::double precision < coalesce((r.cfg ->> 'min_label_accuracy')::double
                                                  precision, @min_label_accuracy@)),
      '{}'::text[]) END AS weak,
    CASE WHEN r.pol = 'default' AND best.v IS NOT NULL AND (an.accuracy IS NULL OR an.accuracy
           < least(coalesce((r.cfg ->> 'expert_accuracy')::double precision, @expert_accuracy@),
                   best.v))
         THEN coalesce((r.cfg ->> 'hard_threshold')::double precision, @hard_threshold@)
    END AS maxdiff,
    (r.pol = 'default' AND coalesce((r.cfg ->> 'require_certified_kind')::boolean, false)
     AND NOT coalesce(an.kinds ? (SELECT sc.body ->> 'kind' FROM schemas AS sc
                                  WHERE sc.project_id = pr.id
                                    AND sc.version = pr.schema_version), false)) AS blocked,
    r.pol
  INTO v_p
  FROM annotators AS an
  JOIN projects AS pr ON pr.id = an.project_id
  CROSS JOIN LATERAL (SELECT pr.settings -> 'routing' AS cfg,
                             coalesce(pr.settings -> 'routing' ->> 'policy', 'default') AS pol
                      ) AS r
  CROSS JOIN LATERAL (SELECT max(a2.accuracy) AS v FROM annotators AS a2
                      WHERE a2.project_id = pr.id AND a2.active) AS best
  WHERE an.project_id = p_project AND an.name = v_me AND an.active;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('database user %s is not an active member of project %s',
                       quote_ident(v_me), p_project),
      HINT = 'a lead adds members with: labelnb team add NAME --role annotator';
  END IF;
  IF v_p.pol NOT IN ('default', 'none') THEN
    RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
      MESSAGE = format('project %s: routing policy %L cannot run in the database',
                       p_project, v_p.pol);
  END IF;"""

_CLAIM_AUDIT = """,
 ca AS (INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
       SELECT :pid, 'claim', :me, u.item_id, u.id, jsonb_build_object('stage', u.stage), :now,
              :me
       FROM u)"""

_GROUPS = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = @admin_lit@) THEN
    CREATE ROLE @admin@ NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = @reviewer_lit@) THEN
    CREATE ROLE @reviewer@ NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = @annotator_lit@) THEN
    CREATE ROLE @annotator@ NOLOGIN;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO @admin@, @reviewer@, @annotator@',
                 current_database());
END $$;
"""

_HELPERS = r"""
CREATE OR REPLACE FUNCTION labelnb_team_info() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
  SELECT jsonb_build_object(
    'version', @version@, 'prefix', @prefix_lit@, 'user', session_user::text,
    'role', CASE
      WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user
                   AND (rolsuper OR rolbypassrls)) THEN 'owner'
      WHEN pg_has_role(session_user, (SELECT tableowner FROM pg_tables
                       WHERE schemaname = @schema_lit@ AND tablename = 'tasks'), 'USAGE')
        THEN 'owner'
      WHEN pg_has_role(session_user, @admin_lit@, 'USAGE') THEN 'admin'
      WHEN pg_has_role(session_user, @reviewer_lit@, 'USAGE') THEN 'reviewer'
      WHEN pg_has_role(session_user, @annotator_lit@, 'USAGE') THEN 'annotator'
    END)
$$;

-- the owner of the labelnb tables (or a superuser), who is trusted with everything
CREATE OR REPLACE FUNCTION labelnb_is_owner() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
  SELECT pg_has_role(session_user, (SELECT tableowner FROM pg_tables
                     WHERE schemaname = @schema_lit@ AND tablename = 'tasks'), 'USAGE')
$$;

-- The projects of this schema the caller leads (an active 'lead' row in annotators):
-- the admin group's row-level security shows and lets them write those projects only.
-- A definer function, so that the policy on annotators can use it without recursion.
CREATE OR REPLACE FUNCTION labelnb_lead_projects() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
  SELECT coalesce(array_agg(an.project_id), '{}'::bigint[]) FROM annotators AS an
   WHERE an.name = session_user::text AND an.active AND an.role = 'lead'
$$;

-- The admin group is cluster-wide; what a lead may manage is the projects they lead.
CREATE OR REPLACE FUNCTION labelnb_require_admin(p_project bigint) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
BEGIN
  IF NOT (labelnb_is_owner()
          OR (pg_has_role(session_user, @admin_lit@, 'USAGE')
              AND EXISTS (SELECT 1 FROM annotators AS an WHERE an.project_id = p_project
                          AND an.name = session_user::text AND an.active
                          AND an.role = 'lead')))
  THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('database user %s is not a lead of project %s',
                       quote_ident(session_user), p_project),
      HINT = 'only the leads of a project (and the owner of the tables) may do this';
  END IF;
END $$;

-- The regions a member submits (labelnb_submit) or corrects with (labelnb_review), checked
-- against the project's current schema before they are stored: labelnb checks them in
-- Python, but a member can call the functions without labelnb, and one malformed region
-- (no label, a label outside the schema) breaks every reader of the project's annotations
-- (dashboard, consensus, exports). The shape only: kinds, labels, the fields each region
-- type needs and their JSON types; geometry against the item stays labelnb's.
CREATE OR REPLACE FUNCTION labelnb_check_regions(p_project bigint, p_task bigint,
                                                 p_item bigint, p_regions jsonb,
                                                 p_schema_version integer)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
DECLARE
  v_where text := format('task %s (item %s)', p_task, p_item);
  v_version integer;
  v_body jsonb;
  v_labels text[];
  v_types jsonb;
  r record;
  f record;
BEGIN
  SELECT pr.schema_version, sc.body::jsonb INTO v_version, v_body
    FROM projects AS pr
    LEFT JOIN schemas AS sc ON sc.project_id = pr.id AND sc.version = pr.schema_version
   WHERE pr.id = p_project;
  IF p_schema_version IS DISTINCT FROM v_version THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('%s: field ''schema_version'' is %s, but project %s is at schema '
                       'version %s', v_where, coalesce(p_schema_version::text, 'NULL'),
                       p_project, v_version),
      HINT = 'the project''s schema changed since it was read: project.reload() (open '
             'projects re-read it within seconds), then label with its classes and submit '
             'again (the lease is kept)';
  END IF;
  IF p_regions IS NULL OR jsonb_typeof(p_regions) <> 'array' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('%s: field ''regions'' is %s, not a JSON array of regions', v_where,
                       coalesce('a JSON ' || jsonb_typeof(p_regions), 'NULL')),
      HINT = 'give a list of regions, e.g. [{"type": "choice", "label": "cat"}] ([] for '
             'nothing to mark)';
  END IF;
  v_labels := ARRAY(SELECT CASE WHEN jsonb_typeof(l) = 'string' THEN l #>> '{}'
                                ELSE l ->> 'name' END
                      FROM jsonb_array_elements(coalesce(v_body -> 'labels', '[]')) AS l);
  v_types := coalesce(@region_types@ -> (v_body ->> 'kind'), '[]');
  FOR r IN SELECT e.value AS reg, e.ordinality - 1 AS i
             FROM jsonb_array_elements(p_regions) WITH ORDINALITY AS e LOOP
    IF jsonb_typeof(r.reg) <> 'object' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('%s, region %s: a JSON %s, not an object', v_where, r.i,
                         jsonb_typeof(r.reg)),
        HINT = 'each region is an object with "type" and "label", e.g. '
               '{"type": "choice", "label": "cat"}';
    END IF;
    IF jsonb_typeof(r.reg -> 'type') IS DISTINCT FROM 'string'
       OR NOT v_types ? (r.reg ->> 'type') THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('%s, region %s: field ''type'' is %s; a %s project takes %s',
                         v_where, r.i, coalesce((r.reg -> 'type')::text, 'missing'),
                         coalesce(v_body ->> 'kind', '?'),
                         (SELECT string_agg(t, ' or ') FROM jsonb_array_elements_text(v_types)
                            AS t)),
        HINT = 'give each region the type of the project''s kind';
    END IF;
    IF jsonb_typeof(r.reg -> 'label') IS DISTINCT FROM 'string'
       OR NOT (r.reg ->> 'label') = ANY (v_labels) THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('%s, region %s: field ''label'' is %s; not in the schema (%s)',
                         v_where, r.i, coalesce((r.reg -> 'label')::text, 'missing'),
                         array_to_string(v_labels, ', ')),
        HINT = 'use one of the schema''s labels (a lead adds one with project.set_schema)';
    END IF;
    FOR f IN SELECT k.key, k.value #>> '{}' AS jtype
               FROM jsonb_each(@region_fields@ -> (r.reg ->> 'type')) AS k LOOP
      -- (in parentheses: PL/pgSQL would end the IF's condition at the CASE's THEN)
      IF (CASE WHEN f.jtype <> 'integer'
                 THEN jsonb_typeof(r.reg -> f.key) IS DISTINCT FROM f.jtype
               WHEN jsonb_typeof(r.reg -> f.key) = 'number'
                 THEN (r.reg ->> f.key)::numeric <> trunc((r.reg ->> f.key)::numeric)
               ELSE true END) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
          MESSAGE = format('%s, region %s (%s %s): field %L is %s, not a JSON %s', v_where,
                           r.i, r.reg ->> 'type', r.reg -> 'label', f.key,
                           coalesce((r.reg -> f.key)::text, 'missing'), f.jtype),
          HINT = format('give the %s its %L as a JSON %s', r.reg ->> 'type', f.key, f.jtype);
      END IF;
    END LOOP;
    IF (CASE coalesce(jsonb_typeof(r.reg -> 'score'), 'null')
          WHEN 'null' THEN false
          WHEN 'number' THEN (r.reg ->> 'score')::numeric NOT BETWEEN 0 AND 1
          ELSE true END) THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('%s, region %s: field ''score'' is %s, not a number in [0, 1]',
                         v_where, r.i, r.reg -> 'score'),
        HINT = 'give a score in [0, 1], or none';
    END IF;
    IF coalesce(jsonb_typeof(r.reg -> 'attributes'), 'null') NOT IN ('object', 'null') THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('%s, region %s: field ''attributes'' is %s, not a JSON object',
                         v_where, r.i, r.reg -> 'attributes'),
        HINT = 'give the attributes as an object of name: value';
    END IF;
  END LOOP;
END $$;

-- Called when a lease operation matched nothing: a task that does not exist, or a
-- lease presented by someone who does not hold it, is refused; anything else (a lease
-- that ran out or was replaced) is left to the caller to report as stale.
CREATE OR REPLACE FUNCTION labelnb_check_lease(p_task bigint, p_token text, p_me text)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
DECLARE
  v record;
BEGIN
  SELECT t.assignee, t.lease_token, t.project_id INTO v FROM tasks AS t WHERE t.id = p_task;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('task %s does not exist', p_task);
  END IF;
  IF v.lease_token = p_token AND v.assignee IS DISTINCT FROM p_me THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('task %s: the lease belongs to another database user, not %s',
                       p_task, quote_ident(p_me)),
      HINT = 'a lease can only be used by the user who claimed it';
  END IF;
  -- the lease functions match only leases of active members: removed or deactivated in
  -- the project, its holder may not use it any more
  IF NOT EXISTS (SELECT 1 FROM annotators AS an WHERE an.project_id = v.project_id
                 AND an.name = p_me AND an.active) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('database user %s is not an active member of project %s',
                       quote_ident(p_me), v.project_id),
      HINT = 'a lead adds members with: labelnb team add NAME --role annotator';
  END IF;
END $$;
"""

_QUEUE = r"""
CREATE OR REPLACE FUNCTION labelnb_claim(p_project bigint, p_stage text, p_token text)
RETURNS TABLE (o_id bigint, o_item_id bigint, o_stage varchar, o_target varchar,
               o_author varchar, o_slot integer, o_media varchar, o_uri text, o_text text,
               o_width integer, o_height integer, o_group varchar, o_meta jsonb,
               o_old_status varchar, o_old_token varchar, o_old_assignee varchar,
               o_claimed_at timestamptz, o_expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_expires timestamptz;
  v_p record;
  v_gold double precision;
BEGIN
  IF p_stage IS NULL OR p_stage NOT IN ('annotate', 'review', 'adjudicate', 'retrain') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('claim: stage %L; expected annotate, review, adjudicate or retrain',
                       p_stage);
  END IF;
  @profile@
  IF p_stage = 'review' AND NOT (
      (pg_has_role(v_me, @reviewer_lit@, 'USAGE') OR pg_has_role(v_me, @admin_lit@, 'USAGE'))
      AND (v_p.role IN ('reviewer', 'lead') OR v_p.qualifications ? 'senior')) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('database user %s may not review in project %s',
                       quote_ident(v_me), p_project),
      HINT = 'reviewing needs the reviewer or lead role: labelnb team role NAME reviewer';
  END IF;
  IF p_stage = 'adjudicate' AND NOT (v_p.role = 'lead' OR v_p.qualifications ? 'expert') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('database user %s may not adjudicate in project %s',
                       quote_ident(v_me), p_project),
      HINT = 'adjudication needs the lead role or the expert qualification';
  END IF;
  v_expires := v_now + coalesce((v_p.settings ->> 'lease_ttl_s')::double precision, 600)
                       * interval '1 second';
  v_gold := coalesce((v_p.settings ->> 'gold_rate')::double precision, 0);
  IF p_stage = 'annotate' AND v_gold > 0 AND @uniform@ < v_gold THEN
    RETURN QUERY
    -- created_at is the item's, as a regular task's is (created with its item): one
    -- equal to claimed_at would tell the member, who reads their tasks, this is gold
    WITH g AS (SELECT ga.item_id, i.created_at FROM gold_answers AS ga
        JOIN items AS i ON i.id = ga.item_id WHERE ga.project_id = p_project
        AND NOT EXISTS (SELECT 1 FROM tasks AS t WHERE t.item_id = ga.item_id
                        AND t.stage = 'annotate' AND t.assignee = v_me)
        AND NOT EXISTS (SELECT 1 FROM leases AS l WHERE l.item_id = ga.item_id
                        AND l.annotator = v_me AND l.outcome = 'skipped')
        ORDER BY random() LIMIT 1),
    n AS (INSERT INTO tasks (project_id, item_id, stage, slot, status, priority, base_priority,
                             assignee, lease_token, claimed_at, lease_expires_at, attempts,
                             created_at)
          SELECT p_project, g.item_id, 'annotate',
                 ((SELECT count(*) FROM tasks AS t2 WHERE t2.item_id = g.item_id
                   AND t2.stage = 'annotate')
                  % greatest(coalesce((v_p.settings ->> 'overlap')::integer, 1), 1))::integer,
                 'leased', 0.0, 0.0, v_me, p_token, v_now, v_expires, 1, g.created_at
          FROM g
          RETURNING tasks.id, tasks.item_id, tasks.stage, tasks.target_annotation_id,
                    tasks.author, tasks.slot, tasks.claimed_at, tasks.lease_expires_at),
    ca AS (INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
           SELECT p_project, 'claim', v_me, n.item_id, n.id,
                  jsonb_build_object('stage', n.stage), v_now, v_me FROM n)
    SELECT n.id, n.item_id, n.stage, n.target_annotation_id, n.author, n.slot, @item_cols@,
           'open'::varchar, NULL::varchar, NULL::varchar, n.claimed_at, n.lease_expires_at
    FROM n JOIN items ON items.id = n.item_id;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  RETURN QUERY
  @claim_sql@;
END $$;

CREATE OR REPLACE FUNCTION labelnb_peek(p_project bigint, p_stage text, p_n integer)
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_p record;
BEGIN
  @profile@
  RETURN QUERY
  @peek_sql@;
END $$;

CREATE OR REPLACE FUNCTION labelnb_heartbeat(p_task bigint, p_token text)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_ttl double precision;
  v_new timestamptz;
BEGIN
  SELECT coalesce((p.settings ->> 'lease_ttl_s')::double precision, 600) INTO v_ttl
    FROM tasks AS t JOIN projects AS p ON p.id = t.project_id WHERE t.id = p_task;
  UPDATE tasks SET lease_expires_at = v_now + v_ttl * interval '1 second'
   WHERE id = p_task AND lease_token = p_token AND status = 'leased' AND assignee = v_me
     AND lease_expires_at >= v_now AND @active@
  RETURNING lease_expires_at INTO v_new;
  IF v_new IS NULL THEN
    PERFORM labelnb_check_lease(p_task, p_token, v_me);
  END IF;
  RETURN v_new;
END $$;

CREATE OR REPLACE FUNCTION labelnb_return(p_task bigint, p_token text, p_outcome text,
                                          p_reason text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v record;
  v_late boolean;
  v_project bigint;
  v_item bigint;
BEGIN
  IF p_outcome IS NULL OR p_outcome NOT IN ('skipped', 'released') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('return: outcome %L; expected skipped or released', p_outcome);
  END IF;
  -- a retraining task is its annotator's alone: skipped, it is closed as seen (a skip
  -- that unreserved it would show their mistake to others), as labelnb_skip_retraining does
  IF p_outcome = 'skipped' AND EXISTS (SELECT 1 FROM tasks AS t WHERE t.id = p_task
                                       AND t.stage = 'retrain') THEN
    RETURN labelnb_skip_retraining(p_task, p_token, p_reason);
  END IF;
  -- (a task that stays reserved stays its reservee's, and a gold question's task ends
  -- with its lease, as in queries._RETURN_SQL). A skip is taken also after the lease ran
  -- out, as long as nobody took the task over since (queries.return_task late=True): the
  -- annotator's "not for me" still stands, and the task is freed as a timely skip frees it
  UPDATE tasks SET status = CASE WHEN @gold_slot@ THEN 'cancelled' ELSE 'open' END,
         lease_token = NULL,
         assignee = CASE WHEN @gold_slot@ THEN assignee
                         WHEN p_outcome = 'skipped' AND stage <> 'retrain' THEN NULL
                         ELSE reserved_for END,
         reserved_for = CASE WHEN p_outcome = 'skipped' AND stage <> 'retrain' THEN NULL
                             ELSE reserved_for END
   WHERE id = p_task AND lease_token = p_token AND status = 'leased' AND assignee = v_me
     AND (lease_expires_at >= v_now OR p_outcome = 'skipped') AND @active@
  RETURNING project_id, item_id, claimed_at, lease_expires_at,
            lease_expires_at < v_now AS late INTO v;
  IF FOUND THEN
    v_late := v.late;
    INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at, ended_at,
                        outcome)
    VALUES (p_task, v.item_id, v_me, p_token, v.claimed_at, v.lease_expires_at, v_now,
            p_outcome);
    v_project := v.project_id;
    v_item := v.item_id;
  ELSE
    PERFORM labelnb_check_lease(p_task, p_token, v_me);
    IF p_outcome <> 'skipped' THEN
      RETURN false;
    END IF;
    -- a late skip of a lease taken over since: that claim logged the lease (expired); its
    -- row now records the skip (one row per lease; queries.skip_expired_lease). Only the
    -- caller's latest lease of the task, and not while they hold it again (the client
    -- refuses a Task from before a later claim)
    UPDATE leases SET outcome = 'skipped'
     WHERE task_id = p_task AND token = p_token AND annotator = v_me AND outcome = 'expired'
       AND NOT EXISTS (SELECT 1 FROM leases AS l2 WHERE l2.task_id = p_task
                       AND l2.annotator = v_me AND l2.claimed_at > leases.claimed_at)
       AND NOT EXISTS (SELECT 1 FROM tasks AS t WHERE t.id = p_task AND t.status = 'leased'
                       AND t.assignee = v_me)
    RETURNING item_id INTO v_item;
    IF NOT FOUND THEN
      RETURN false;
    END IF;
    SELECT t.project_id INTO v_project FROM tasks AS t WHERE t.id = p_task;
    v_late := true;
  END IF;
  INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
  VALUES (v_project, CASE WHEN p_outcome = 'skipped' THEN 'skip' ELSE 'release' END, v_me,
          v_item, p_task, CASE WHEN p_reason IS NULL THEN '{}'::jsonb
                               ELSE jsonb_build_object('reason', p_reason) END
                          || CASE WHEN v_late THEN jsonb_build_object('lease', 'expired')
                                  ELSE '{}'::jsonb END, v_now, v_me);
  RETURN true;
END $$;

CREATE OR REPLACE FUNCTION labelnb_submit(
    p_task bigint, p_token text, p_id text, p_regions jsonb, p_created_at timestamptz,
    p_duration_s double precision, p_client_id text, p_meta jsonb, p_model_version text,
    p_schema_version integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_n bigint;
  v_live record;
BEGIN
  -- the regions fit the project's current schema (checked for the caller's live lease;
  -- anything else is refused or reported stale below)
  SELECT t.project_id, t.item_id INTO v_live FROM tasks AS t
   WHERE t.id = p_task AND t.lease_token = p_token AND t.status = 'leased'
     AND t.assignee = v_me AND t.lease_expires_at >= v_now
     AND t.stage IN ('annotate', 'adjudicate');
  IF FOUND THEN
    PERFORM labelnb_check_regions(v_live.project_id, p_task, v_live.item_id, p_regions,
                                  p_schema_version);
  END IF;
  -- one statement, like the client-side submit: finish the lease, store the annotation
  -- (the database, not the client, says who wrote it, from what, and what it corrects),
  -- log the lease, sample the review here too (nobody can opt out of it, nor steer it), audit
  WITH f AS (
    UPDATE tasks SET status = 'done', done_at = v_now, lease_token = NULL, reserved_for = NULL
      FROM projects AS pr
     WHERE tasks.id = p_task AND tasks.lease_token = p_token AND tasks.status = 'leased'
       AND tasks.assignee = v_me AND tasks.lease_expires_at >= v_now
       AND tasks.stage IN ('annotate', 'adjudicate') AND pr.id = tasks.project_id
       AND @active@
    RETURNING tasks.project_id, tasks.item_id, tasks.claimed_at, tasks.lease_expires_at,
              tasks.target_annotation_id,
              coalesce((pr.settings ->> 'review_fraction')::double precision, 0) AS frac),
  a AS (INSERT INTO annotations (id, project_id, item_id, task_id, author, source,
                                 schema_version, regions, created_at, submitted_at, duration_s,
                                 corrects, model_version, client_id, meta)
        SELECT p_id, f.project_id, f.item_id, p_task, v_me, 'human', p_schema_version,
               p_regions, p_created_at, v_now, p_duration_s, f.target_annotation_id,
               p_model_version, p_client_id, coalesce(p_meta, '{}'::jsonb) FROM f),
  l AS (INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at,
                           ended_at, outcome)
        SELECT p_task, f.item_id, v_me, p_token, f.claimed_at, f.lease_expires_at, v_now,
               'submitted' FROM f),
  r AS (INSERT INTO tasks (project_id, item_id, stage, slot, status, priority, author,
                           target_annotation_id, created_at, attempts)
        SELECT f.project_id, f.item_id, 'review', 0, 'open', 0.0, v_me, p_id, v_now, 0 FROM f
        -- drawn here, from nothing the caller chooses (not the annotation id they send)
        WHERE (f.frac >= 1 OR (f.frac > 0 AND @uniform@ < f.frac))
          -- never a gold question's answer: a reviewer would teach it before it is scored
          AND @not_gold@),
  ev AS (INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
         SELECT f.project_id, 'submit', v_me, f.item_id, p_task,
                jsonb_build_object('annotation_id', p_id), v_now, v_me FROM f)
  SELECT count(*) INTO v_n FROM f;
  IF v_n = 0 THEN
    PERFORM labelnb_check_lease(p_task, p_token, v_me);
    IF EXISTS (SELECT 1 FROM tasks AS t WHERE t.id = p_task AND t.lease_token = p_token
               AND t.stage NOT IN ('annotate', 'adjudicate')) THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('task %s is not an annotate or adjudicate task; review it instead',
                         p_task);
    END IF;
    RETURN false;
  END IF;
  RETURN true;
END $$;

CREATE OR REPLACE FUNCTION labelnb_acknowledge(p_task bigint, p_token text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v record;
BEGIN
  UPDATE tasks SET status = 'done', done_at = v_now, lease_token = NULL, reserved_for = NULL
   WHERE id = p_task AND lease_token = p_token AND status = 'leased' AND assignee = v_me
     AND lease_expires_at >= v_now AND stage = 'retrain' AND @active@
  RETURNING project_id, item_id, claimed_at, lease_expires_at, target_annotation_id INTO v;
  IF NOT FOUND THEN
    PERFORM labelnb_check_lease(p_task, p_token, v_me);
    RETURN false;
  END IF;
  INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at, ended_at,
                      outcome)
  VALUES (p_task, v.item_id, v_me, p_token, v.claimed_at, v.lease_expires_at, v_now,
          'submitted');
  INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
  VALUES (v.project_id, 'retraining_acknowledged', v_me, v.item_id, p_task,
          jsonb_build_object('annotation_id', v.target_annotation_id), v_now, v_me);
  RETURN true;
END $$;

-- a skipped retraining task is closed as seen, not given back (it is its annotator's
-- alone); logged as a skip, with the reason. Also after the lease ran out, as long as
-- nobody claimed the task again since (queries.close_retraining late=True)
CREATE OR REPLACE FUNCTION labelnb_skip_retraining(p_task bigint, p_token text,
                                                   p_reason text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v record;
BEGIN
  UPDATE tasks SET status = 'done', done_at = v_now, lease_token = NULL
   WHERE id = p_task AND lease_token = p_token AND status = 'leased' AND assignee = v_me
     AND stage = 'retrain' AND @active@
  RETURNING project_id, item_id, claimed_at, lease_expires_at, target_annotation_id,
            lease_expires_at < v_now AS late INTO v;
  IF NOT FOUND THEN
    PERFORM labelnb_check_lease(p_task, p_token, v_me);
    RETURN false;
  END IF;
  INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at, ended_at,
                      outcome)
  VALUES (p_task, v.item_id, v_me, p_token, v.claimed_at, v.lease_expires_at, v_now,
          'skipped');
  INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
  VALUES (v.project_id, 'retraining_skipped', v_me, v.item_id, p_task,
          jsonb_build_object('annotation_id', v.target_annotation_id)
            || CASE WHEN p_reason IS NULL THEN '{}'::jsonb
                    ELSE jsonb_build_object('reason', p_reason) END
            || CASE WHEN v.late THEN jsonb_build_object('lease', 'expired')
                    ELSE '{}'::jsonb END, v_now, v_me);
  RETURN true;
END $$;

CREATE OR REPLACE FUNCTION labelnb_review(
    p_task bigint, p_token text, p_decision text, p_feedback text, p_correction_id text,
    p_regions jsonb, p_created_at timestamptz, p_duration_s double precision,
    p_schema_version integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_t tasks%ROWTYPE;
  v_target annotations%ROWTYPE;
  v_a record;
BEGIN
  IF p_decision IS NULL OR p_decision NOT IN ('approve', 'reject', 'correct') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('review: decision %L; expected approve, reject or correct', p_decision);
  END IF;
  IF p_decision = 'reject' AND coalesce(btrim(p_feedback), '') = '' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = 'review: a rejection needs feedback (tell the author what to fix)';
  END IF;
  IF p_decision = 'correct' AND (p_regions IS NULL OR p_correction_id IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = 'review: a correction needs its regions and annotation id';
  END IF;
  SELECT * INTO v_t FROM tasks WHERE id = p_task FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('task %s does not exist', p_task);
  END IF;
  IF v_t.lease_token IS DISTINCT FROM p_token OR v_t.status <> 'leased' THEN
    RETURN false;
  END IF;
  IF v_t.assignee IS DISTINCT FROM v_me THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('task %s: the lease belongs to another database user, not %s',
                       p_task, quote_ident(v_me)),
      HINT = 'a lease can only be used by the user who claimed it';
  END IF;
  IF v_t.lease_expires_at < v_now THEN
    RETURN false;
  END IF;
  IF v_t.stage <> 'review' OR v_t.target_annotation_id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('task %s is a %s task, not a review task', p_task, v_t.stage);
  END IF;
  SELECT * INTO v_target FROM annotations WHERE id = v_t.target_annotation_id;
  IF v_target.author = v_me THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('task %s: %s cannot review their own annotation %s', p_task,
                       quote_ident(v_me), v_target.id),
      HINT = 'another reviewer must review it';
  END IF;
  SELECT an.role, an.qualifications INTO v_a FROM annotators AS an
   WHERE an.project_id = v_t.project_id AND an.name = v_me AND an.active;
  IF NOT FOUND OR NOT (v_a.role IN ('reviewer', 'lead') OR v_a.qualifications ? 'senior') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('database user %s may not review in project %s', quote_ident(v_me),
                       v_t.project_id),
      HINT = 'reviewing needs the reviewer or lead role: labelnb team role NAME reviewer';
  END IF;
  IF p_decision = 'correct' THEN
    PERFORM labelnb_check_regions(v_t.project_id, p_task, v_t.item_id, p_regions,
                                  p_schema_version);
  END IF;
  UPDATE tasks SET status = 'done', done_at = v_now, lease_token = NULL, reserved_for = NULL
   WHERE id = p_task;
  IF p_decision = 'correct' THEN
    INSERT INTO annotations (id, project_id, item_id, task_id, author, source, schema_version,
                             regions, created_at, submitted_at, duration_s, corrects,
                             model_version, client_id, meta)
    VALUES (p_correction_id, v_t.project_id, v_t.item_id, p_task, v_me, 'human',
            p_schema_version, p_regions, p_created_at, v_now, p_duration_s, v_target.id,
            NULL, NULL, '{}'::jsonb);
  END IF;
  INSERT INTO reviews (project_id, task_id, annotation_id, reviewer, decision, feedback,
                       correction_id, created_at)
  VALUES (v_t.project_id, p_task, v_target.id, v_me, p_decision, p_feedback,
          CASE WHEN p_decision = 'correct' THEN p_correction_id END, v_now);
  INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at, ended_at,
                      outcome)
  VALUES (p_task, v_t.item_id, v_me, p_token, v_t.claimed_at, v_t.lease_expires_at, v_now,
          'submitted');
  INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
  VALUES (v_t.project_id, 'review_' || p_decision, v_me, v_t.item_id, p_task,
          jsonb_build_object('annotation_id', v_target.id, 'author', v_target.author), v_now,
          v_me);
  -- what a rejection sets in motion, in the order of the client-side review (queue.py
  -- Queue._review); "newest" in the order of queries.annotations_for_item
  IF p_decision <> 'reject' THEN
    NULL;
  ELSIF v_target.source = 'consensus' AND v_target.id IS DISTINCT FROM (
      SELECT a.id FROM annotations AS a WHERE a.item_id = v_target.item_id
         AND a.source = 'consensus'
       ORDER BY a.submitted_at DESC, a.created_at DESC, a.id DESC LIMIT 1) THEN
    NULL;  -- a consensus replaced since (the item's labels changed): recorded only
  ELSIF v_target.task_id IS NOT NULL AND v_target.id IS DISTINCT FROM (
      SELECT a.id FROM annotations AS a WHERE a.item_id = v_target.item_id
         AND a.task_id = v_target.task_id
       ORDER BY a.submitted_at DESC, a.created_at DESC, a.id DESC LIMIT 1) THEN
    NULL;  -- reworked since (a second review of the same work): recorded only
  ELSIF v_target.source = 'consensus' THEN
    -- a rejected consensus goes to an expert, unless the item already waits for one (one
    -- expert decision per item; queries.queue_adjudication): the item's row lock
    -- (queries.lock_item, which consensus() takes too) serialises two rejections, or a
    -- rejection and a consensus run, at once. The task keeps the item's language,
    -- qualification and deadline (queries.ADJUDICATION_ROUTING, from its first annotate
    -- task) at base priority 5 (the routing policy's share: project.reprioritize())
    PERFORM 1 FROM items WHERE id = v_t.item_id FOR NO KEY UPDATE;
    IF NOT EXISTS (SELECT 1 FROM tasks AS adj WHERE adj.item_id = v_t.item_id
                   AND adj.stage = 'adjudicate' AND adj.status IN ('open', 'leased')) THEN
      INSERT INTO tasks (project_id, item_id, stage, slot, status, priority, base_priority,
                         created_at, attempts, language, required_skill, deadline)
      SELECT v_t.project_id, v_t.item_id, 'adjudicate', 0, 'open', 5.0, 5.0, v_now, 0,
             first.language, first.required_skill, first.deadline
        FROM (SELECT NULL::int AS none) AS one
        LEFT JOIN LATERAL (SELECT a.language, a.required_skill, a.deadline FROM tasks AS a
                            WHERE a.item_id = v_t.item_id AND a.stage = 'annotate'
                            ORDER BY a.slot, a.id LIMIT 1) AS first ON true;
      INSERT INTO events (project_id, kind, actor, item_id, payload, created_at, db_user)
      VALUES (v_t.project_id, 'adjudication_queued', v_me, v_t.item_id,
              jsonb_build_object('reason', 'consensus rejected'), v_now, v_me);
    END IF;
  ELSIF v_target.task_id IS NOT NULL THEN
    -- back to its author (an annotator, or the expert for an adjudication), unless being
    -- reworked now (that lease is kept); a rejected correction (made in a review task) is
    -- recorded only: the work it corrected stands
    UPDATE tasks SET status = 'open', reserved_for = v_target.author,
           assignee = v_target.author, lease_token = NULL, lease_expires_at = NULL,
           done_at = NULL, target_annotation_id = v_target.id, priority = 10.0,
           base_priority = 10.0
     WHERE id = v_target.task_id AND status <> 'leased'
       AND stage IN ('annotate', 'adjudicate');
  END IF;
  RETURN true;
END $$;
"""

_ADMIN = r"""
-- Grant the group of each role the person holds in some project of this schema, and
-- revoke the groups they no longer need (groups are cluster-wide; roles per project).
-- Several schemas may share one prefix's groups: a group is revoked only when no other
-- schema whose tables it is granted on still has the person active in that role (and
-- kept when that cannot be read: never cut off someone who works elsewhere).
CREATE OR REPLACE FUNCTION labelnb_sync_groups(p_name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
DECLARE
  g record;
  s record;
  v_needed boolean;
BEGIN
  -- an annotator without a database login (a name in annotators that labelnb team add
  -- never made a login: added by the owner's queue, an import) has no groups to sync;
  -- their role and profile still change
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_name) THEN
    RETURN;
  END IF;
  FOR g IN SELECT * FROM (VALUES ('lead', @admin_lit@), ('reviewer', @reviewer_lit@),
                                 ('annotator', @annotator_lit@)) AS x(role, grp) LOOP
    IF EXISTS (SELECT 1 FROM annotators AS an WHERE an.name = p_name AND an.active
               AND an.role = g.role) THEN
      EXECUTE format('GRANT %I TO %I', g.grp, p_name);
    ELSIF EXISTS (SELECT 1 FROM pg_auth_members AS m
                  JOIN pg_roles AS gr ON gr.oid = m.roleid
                  JOIN pg_roles AS u ON u.oid = m.member
                  WHERE gr.rolname = g.grp AND u.rolname = p_name) THEN
      v_needed := false;
      FOR s IN SELECT n.nspname FROM pg_class AS c
               JOIN pg_namespace AS n ON n.oid = c.relnamespace
               WHERE c.relname = 'annotators' AND c.relkind IN ('r', 'p')
                 AND n.nspname <> @schema_lit@
                 AND has_table_privilege(g.grp, c.oid, 'SELECT') LOOP
        BEGIN
          EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.annotators AS an '
                         'WHERE an.name = $1 AND an.active AND an.role = $2)', s.nspname)
            INTO v_needed USING p_name, g.role;
        EXCEPTION WHEN insufficient_privilege OR undefined_column OR undefined_table THEN
          v_needed := true;
        END;
        EXIT WHEN v_needed;
      END LOOP;
      IF NOT v_needed THEN
        EXECUTE format('REVOKE %I FROM %I', g.grp, p_name);
      END IF;
    END IF;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION labelnb_team_add(p_project bigint, p_name text, p_role text,
                                            p_verifier text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_state text;
BEGIN
  PERFORM labelnb_require_admin(p_project);
  IF p_role IS NULL OR p_role NOT IN ('annotator', 'reviewer', 'lead') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('team add: role %L; expected annotator, reviewer or lead', p_role);
  END IF;
  IF p_name IS NULL OR p_name = '' OR octet_length(p_name) > 63 OR p_name LIKE 'pg\_%' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('team add: %L is not a usable database user name', p_name),
      HINT = 'a name is 1 to 63 bytes and does not start with pg_';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM projects WHERE id = p_project) THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('project %s does not exist', p_project);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_name) THEN
    -- never take over a role that is not already one of the team's login roles
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_name
               AND (rolsuper OR rolcreaterole OR rolbypassrls OR NOT rolcanlogin))
       OR NOT EXISTS (SELECT 1 FROM pg_auth_members AS m
                      JOIN pg_roles AS gr ON gr.oid = m.roleid
                      JOIN pg_roles AS u ON u.oid = m.member
                      WHERE u.rolname = p_name
                        AND gr.rolname IN (@admin_lit@, @reviewer_lit@, @annotator_lit@)) THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('database role %s exists and is not a login of this labelnb team',
                         quote_ident(p_name)),
        HINT = 'labelnb does not take over existing roles; pick another name';
    END IF;
    v_state := 'existing';
  ELSE
    IF p_verifier IS NULL OR p_verifier NOT LIKE 'SCRAM-SHA-256$%' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = 'team add: give a SCRAM-SHA-256 verifier, never a plain password';
    END IF;
    EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', p_name, p_verifier);
    v_state := 'created';
  END IF;
  INSERT INTO annotators (project_id, name, role, skills, qualifications, languages, kinds,
                          active, created_at, updated_at)
  VALUES (p_project, p_name, p_role, '{}'::jsonb, '[]'::jsonb, '[]'::jsonb, '[]'::jsonb, true,
          v_now, v_now)
  ON CONFLICT (project_id, name) DO UPDATE SET role = EXCLUDED.role, active = true,
                                               updated_at = v_now;
  PERFORM labelnb_sync_groups(p_name);
  INSERT INTO events (project_id, kind, actor, payload, created_at)
  VALUES (p_project, 'team_member_added', v_me,
          jsonb_build_object('name', p_name, 'role', p_role, 'login', v_state), v_now);
  RETURN v_state;
END $$;

CREATE OR REPLACE FUNCTION labelnb_team_set_role(p_project bigint, p_name text, p_role text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_old text;
BEGIN
  PERFORM labelnb_require_admin(p_project);
  IF p_role IS NULL OR p_role NOT IN ('annotator', 'reviewer', 'lead') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('team role: role %L; expected annotator, reviewer or lead', p_role);
  END IF;
  SELECT an.role INTO v_old FROM annotators AS an
   WHERE an.project_id = p_project AND an.name = p_name FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('%s is not a member of project %s', quote_ident(p_name), p_project),
      HINT = 'add them with: labelnb team add NAME --role ROLE';
  END IF;
  UPDATE annotators SET role = p_role, updated_at = v_now
   WHERE project_id = p_project AND name = p_name;
  PERFORM labelnb_sync_groups(p_name);
  INSERT INTO events (project_id, kind, actor, payload, created_at)
  VALUES (p_project, 'role_changed', v_me,
          jsonb_build_object('name', p_name, 'from', v_old, 'to', p_role), v_now);
END $$;

CREATE OR REPLACE FUNCTION labelnb_team_remove(p_project bigint, p_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_released bigint;
  v_freed bigint;
  v_cancelled bigint;
BEGIN
  PERFORM labelnb_require_admin(p_project);
  UPDATE annotators SET active = false, updated_at = v_now
   WHERE project_id = p_project AND name = p_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('%s is not a member of project %s', quote_ident(p_name), p_project);
  END IF;
  -- their retraining tasks are theirs alone (their mistakes): closed, never handed on
  WITH c AS (SELECT id, item_id, assignee, lease_token, claimed_at, lease_expires_at, status
               FROM tasks WHERE project_id = p_project AND stage = 'retrain'
                AND status IN ('open', 'leased')
                AND (reserved_for = p_name OR assignee = p_name) FOR UPDATE),
  l AS (INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at,
                            ended_at, outcome)
        SELECT c.id, c.item_id, c.assignee, c.lease_token, c.claimed_at, c.lease_expires_at,
               v_now, 'released' FROM c WHERE c.status = 'leased'),
  u AS (UPDATE tasks SET status = 'cancelled', lease_token = NULL FROM c WHERE tasks.id = c.id
        RETURNING tasks.id)
  SELECT count(*) INTO v_cancelled FROM u;
  -- their live leases go back to the pool (a lease they could no longer use would hold
  -- its task until it ran out), and rework reserved for them is anyone's again (nobody
  -- else could ever take it)
  WITH c AS (SELECT id, item_id, assignee, lease_token, claimed_at, lease_expires_at
               FROM tasks WHERE project_id = p_project AND status = 'leased'
                AND assignee = p_name FOR UPDATE),
  l AS (INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at,
                            ended_at, outcome)
        SELECT c.id, c.item_id, c.assignee, c.lease_token, c.claimed_at, c.lease_expires_at,
               v_now, 'released' FROM c),
  u AS (UPDATE tasks SET status = 'open', assignee = NULL, lease_token = NULL,
                         claimed_at = NULL, lease_expires_at = NULL, reserved_for = NULL
          FROM c WHERE tasks.id = c.id RETURNING tasks.id)
  SELECT count(*) INTO v_released FROM u;
  UPDATE tasks SET assignee = NULL, reserved_for = NULL
   WHERE project_id = p_project AND status = 'open'
     AND (reserved_for = p_name OR assignee = p_name);
  GET DIAGNOSTICS v_freed = ROW_COUNT;
  PERFORM labelnb_sync_groups(p_name);
  INSERT INTO events (project_id, kind, actor, payload, created_at)
  VALUES (p_project, 'team_member_removed', v_me,
          jsonb_build_object('name', p_name, 'leases_released', v_released,
                             'tasks_unreserved', v_freed,
                             'retraining_cancelled', v_cancelled), v_now);
END $$;

-- The one documented way to remove an annotation: the leads of its project only (and the
-- owner), with a reason, and an event that says who removed what (the trigger below
-- refuses every other way).
CREATE OR REPLACE FUNCTION labelnb_maintenance_delete_annotation(p_id text, p_reason text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, @schema@, pg_temp AS $$
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v annotations%ROWTYPE;
BEGIN
  SELECT * INTO v FROM annotations WHERE id = p_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('annotation %s does not exist', p_id);
  END IF;
  -- a lead of the annotation's own project
  PERFORM labelnb_require_admin(v.project_id);
  IF coalesce(btrim(p_reason), '') = '' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = 'maintenance: give the reason for removing the annotation';
  END IF;
  IF EXISTS (SELECT 1 FROM reviews AS r WHERE r.annotation_id = p_id OR r.correction_id = p_id)
     OR EXISTS (SELECT 1 FROM annotations AS a WHERE a.corrects = p_id) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('annotation %s is reviewed or corrected; history that refers to it '
                       'cannot be removed', p_id);
  END IF;
  PERFORM set_config('labelnb.maintenance', 'on', true);
  DELETE FROM annotations WHERE id = p_id;
  PERFORM set_config('labelnb.maintenance', 'off', true);
  -- its pending review goes with it
  UPDATE tasks SET status = 'cancelled', lease_token = NULL
   WHERE stage = 'review' AND target_annotation_id = p_id AND status IN ('open', 'leased');
  -- the annotate slot it filled is open again: the item still needs that many labels
  -- (left done, nobody would be offered it and its consensus would wait for ever)
  UPDATE tasks SET status = 'open', assignee = NULL, lease_token = NULL, claimed_at = NULL,
                   lease_expires_at = NULL, done_at = NULL, reserved_for = NULL
   WHERE id = v.task_id AND stage = 'annotate' AND status = 'done';
  INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
  VALUES (v.project_id, 'maintenance_delete', v_me, v.item_id, v.task_id,
          jsonb_build_object('annotation_id', p_id, 'author', v.author, 'source', v.source,
                             'reason', p_reason), v_now, v_me);
END $$;

CREATE OR REPLACE FUNCTION labelnb_events_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.db_user := session_user;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION labelnb_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'annotations' AND current_setting('labelnb.maintenance', true) = 'on' THEN
    IF TG_OP = 'DELETE' THEN
      RETURN OLD;
    END IF;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
    MESSAGE = format('%s is append-only: %s is refused', TG_TABLE_NAME, TG_OP),
    HINT = CASE WHEN TG_TABLE_NAME = 'annotations'
                THEN 'a correction is a new annotation; an admin removes one with '
                     'labelnb team delete-annotation'
                ELSE 'the audit log cannot be changed' END;
END $$;
"""

_TRIGGERS = """
DROP TRIGGER IF EXISTS labelnb_stamp ON events;
CREATE TRIGGER labelnb_stamp BEFORE INSERT ON events
  FOR EACH ROW WHEN (NEW.db_user IS DISTINCT FROM session_user::text)
  EXECUTE FUNCTION labelnb_events_stamp();
DROP TRIGGER IF EXISTS labelnb_append_only ON events;
CREATE TRIGGER labelnb_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION labelnb_append_only();
DROP TRIGGER IF EXISTS labelnb_append_only_truncate ON events;
CREATE TRIGGER labelnb_append_only_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION labelnb_append_only();
DROP TRIGGER IF EXISTS labelnb_append_only ON annotations;
CREATE TRIGGER labelnb_append_only BEFORE UPDATE OR DELETE ON annotations
  FOR EACH ROW EXECUTE FUNCTION labelnb_append_only();
DROP TRIGGER IF EXISTS labelnb_append_only_truncate ON annotations;
CREATE TRIGGER labelnb_append_only_truncate BEFORE TRUNCATE ON annotations
  FOR EACH STATEMENT EXECUTE FUNCTION labelnb_append_only();
"""

_DROP_POLICIES = """
DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT policyname, tablename FROM pg_policies
           WHERE schemaname = @schema_lit@ AND policyname LIKE 'labelnb\\_%' LOOP
    EXECUTE format('DROP POLICY %I ON %I.%I', p.policyname, @schema_lit@, p.tablename);
  END LOOP;
END $$;
"""

# Functions of earlier versions whose signature changed (CREATE OR REPLACE makes a new
# overload beside them): v4's labelnb_require_admin() checked the group only.
_DROP_FUNCTIONS = ("DROP FUNCTION IF EXISTS labelnb_require_admin()",)

# Members read every column of tasks but TASKS_HIDDEN; the list is read from the catalog,
# so a column added by a migration is granted when `labelnb team init` runs again.
_TASKS_GRANT = """
DO $$
BEGIN
  EXECUTE format('GRANT SELECT (%s) ON %I.tasks TO @members@',
    (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
       FROM pg_attribute AS a
      WHERE a.attrelid = to_regclass(format('%I.tasks', @schema_lit@)) AND a.attnum > 0
        AND NOT a.attisdropped AND a.attname::text <> ALL (@hidden@)),
    @schema_lit@);
END $$;
"""

# What the admin group (leads) sees and writes of each table: the rows of the projects
# they lead (the group itself is cluster-wide); the rest is ``project_id = ANY leads``.
# Database-wide events (team init, project NULL) are readable by every lead.
_ADMIN_POLICIES = {
    "projects": "id = ANY " + _LEADS,
    "leases": "EXISTS (SELECT 1 FROM tasks AS lt WHERE lt.id = leases.task_id "
              "AND lt.project_id = ANY " + _LEADS + ")",
    "events": "project_id IS NULL OR project_id = ANY " + _LEADS,
}

# what members (annotators, reviewers) see of each table
_MEMBER_POLICIES = {
    "projects": _MEMBER.replace("@col@", "id"),
    "schemas": _MEMBER.replace("@col@", "project_id"),
    "items": _MEMBER.replace("@col@", "project_id"),
    "annotators": "name = session_user::text",
    "tasks": "assignee = session_user::text",
    "leases": "annotator = session_user::text",
    # blind annotation: your own, and others' only on items you have submitted (or hold
    # a review / adjudication lease on)
    "annotations": "author = session_user::text OR " + _SEEN,
    "reviews": """reviewer = session_user::text OR EXISTS (SELECT 1 FROM annotations AS mine
      WHERE mine.id = reviews.annotation_id AND mine.author = session_user::text)""",
    "predictions": _MEMBER.replace("@col@", "project_id") + """
      AND (NOT coalesce((SELECT (pr.settings ->> 'hide_predictions')::boolean FROM projects AS pr
                         WHERE pr.id = predictions.project_id), false)
           OR """ + _SEEN + ")",
}


def _q_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _q_lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def group_names(prefix: str) -> dict[str, str]:
    """The three group roles for ``prefix``: ``{"lead": ..., "reviewer": ...,
    "annotator": ...}`` (the lead's group is ``<prefix>_admin``)."""
    return {"lead": f"{prefix}_admin", "reviewer": f"{prefix}_reviewer",
            "annotator": f"{prefix}_annotator"}


def _definer_sql(sql: str, params: dict[str, str]) -> str:
    """Client-side ``:name`` parameters → the definer function's variables."""
    return q.PARAM_RE.sub(lambda m: params[m.group(1)], sql)


def install_block(schema: str, prefix: str) -> list[str]:
    """The statements of team security for ``schema`` with group roles ``prefix_*``,
    in order (run them in one transaction, as the owner of the labelnb tables)."""
    if not PREFIX_RE.match(prefix):
        raise ValueError(f"role prefix {prefix!r}: use 1-40 lowercase letters, digits or _, "
                         "starting with a letter")
    groups = group_names(prefix)
    defaults = DefaultRouting()
    # a blocked member takes nothing, not even their own rework (routing, which a
    # reserved task skips, is the rest)
    common = q.claim_where("tasks.stage = :stage AND NOT v_p.blocked", _ROUTING)
    names = {"pid": "p_project", "me": "v_me", "now": "v_now", "expires": "v_expires",
             "token": "p_token", "stage": "p_stage", "n": "least(greatest(p_n, 1), 50)"}
    subs = {
        "@profile@": _PROFILE.strip(),
        "@claim_sql@": _definer_sql(q.pg_claim_sql(common, _CLAIM_AUDIT), names),
        "@peek_sql@": _definer_sql(q.peek_sql(common), names),
        "@gold_slot@": q.GOLD_SLOT,
        "@not_gold@": q.NOT_GOLD_ITEM.format(pid="f.project_id", item="f.item_id"),
        "@item_cols@": q.ITEM_COLS,
        "@active@": _ACTIVE,
        "@hidden@": "ARRAY[" + ", ".join(_q_lit(c) for c in TASKS_HIDDEN) + "]::text[]",
        "@uniform@": _UNIFORM,
        # the region types each kind takes (labelnb.schema.REGION_TYPES), and their fields
        "@region_types@": _q_lit(json.dumps(
            {k: [t.type for t in v] for k, v in REGION_TYPES.items()})) + "::jsonb",
        "@region_fields@": _q_lit(json.dumps(REGION_FIELDS)) + "::jsonb",
        "@schema_lit@": _q_lit(schema),
        "@schema@": _q_ident(schema),
        "@prefix_lit@": _q_lit(prefix),
        "@admin_lit@": _q_lit(groups["lead"]),
        "@reviewer_lit@": _q_lit(groups["reviewer"]),
        "@annotator_lit@": _q_lit(groups["annotator"]),
        "@admin@": _q_ident(groups["lead"]),
        "@reviewer@": _q_ident(groups["reviewer"]),
        "@annotator@": _q_ident(groups["annotator"]),
        "@version@": str(TEAM_SQL_VERSION),
        "@hard_threshold@": repr(float(defaults.hard_threshold)),
        "@expert_accuracy@": repr(float(defaults.expert_accuracy)),
        "@min_label_accuracy@": repr(float(defaults.min_label_accuracy)),
    }

    def render(text: str) -> str:
        for k, v in subs.items():  # the code parts first: they hold @..@ of their own
            text = text.replace(k, v)
        return text

    admin, reviewer, annotator = (subs["@admin@"], subs["@reviewer@"], subs["@annotator@"])
    members = f"{reviewer}, {annotator}"
    everyone = f"{admin}, {members}"
    out = [render(_GROUPS), f"GRANT USAGE ON SCHEMA {subs['@schema@']} TO {everyone}",
           # nobody but the owner creates objects in the schema: an operator or function
           # a member put there would be chosen inside the definer functions, and run as
           # the owner (PostgreSQL <= 14 let PUBLIC create in `public`; pg_upgrade keeps
           # that); install() refuses a schema where some other role still may
           f"REVOKE CREATE ON SCHEMA {subs['@schema@']} FROM PUBLIC, {everyone}"]
    all_tables = ", ".join(("alembic_version", *TABLES))
    member_read = [t for t in MEMBER_READ if t != "tasks"]
    out += [
        # (revoking a table's privileges revokes its column privileges too)
        f"REVOKE ALL ON {all_tables} FROM PUBLIC, {everyone}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {subs['@schema@']} FROM {everyone}",
        f"GRANT SELECT ON {', '.join(member_read)} TO {members}",
        render(_TASKS_GRANT).replace("@members@", members),
        f"GRANT SELECT ON {all_tables} TO {admin}",
        f"GRANT INSERT ON {', '.join(ADMIN_INSERT)} TO {admin}",
        f"GRANT UPDATE ON {', '.join(ADMIN_UPDATE)} TO {admin}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {subs['@schema@']} TO {admin}",
    ]
    out += [f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY" for t in TABLES]
    out.append(render(_DROP_POLICIES))
    # the functions first: the admin group's policies call labelnb_lead_projects()
    out += [*_DROP_FUNCTIONS, render(_HELPERS), render(_QUEUE), render(_ADMIN), _TRIGGERS]
    for t in TABLES:
        cond = _ADMIN_POLICIES.get(t, "project_id = ANY " + _LEADS)
        out.append(f"CREATE POLICY labelnb_admin ON {t} TO {admin} USING ({cond}) "
                   f"WITH CHECK ({cond})")
    for t, cond in _MEMBER_POLICIES.items():
        cond = cond.replace("@tbl@", t)
        out.append(f"CREATE POLICY labelnb_member ON {t} FOR SELECT TO {members} USING ({cond})")
    every_fn = (*MEMBER_FUNCTIONS, *REVIEW_FUNCTIONS, *ADMIN_FUNCTIONS, *POLICY_FUNCTIONS,
                *INTERNAL_FUNCTIONS)
    out += [f"REVOKE ALL ON FUNCTION {f} FROM PUBLIC, {everyone}" for f in every_fn]
    out += [f"GRANT EXECUTE ON FUNCTION {f} TO {everyone}" for f in MEMBER_FUNCTIONS]
    out += [f"GRANT EXECUTE ON FUNCTION {f} TO {admin}, {reviewer}" for f in REVIEW_FUNCTIONS]
    out += [f"GRANT EXECUTE ON FUNCTION {f} TO {admin}" for f in (*ADMIN_FUNCTIONS,
                                                                  *POLICY_FUNCTIONS)]
    return out


__all__ = ["INSTALL_LOCK_SQL", "PREFIX_RE", "SCHEMA_CREATORS", "TABLES", "TEAM_SQL_VERSION",
           "group_names", "install_block"]
