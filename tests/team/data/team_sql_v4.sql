-- labelnb team security v4, as `labelnb team init` installed it (labelnb/team/sql.py
-- at commit fb5f6d4), rendered for schema xschemax4 and role prefix xprefixx4;
-- tests/team/test_upgrade.py installs it, then upgrades it. Statements are separated
-- by the marker line below.
-- labelnb statement --

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'xprefixx4_admin') THEN
    CREATE ROLE "xprefixx4_admin" NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'xprefixx4_reviewer') THEN
    CREATE ROLE "xprefixx4_reviewer" NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'xprefixx4_annotator') THEN
    CREATE ROLE "xprefixx4_annotator" NOLOGIN;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"',
                 current_database());
END $$;

-- labelnb statement --
GRANT USAGE ON SCHEMA "xschemax4" TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON alembic_version, projects, schemas, items, annotators, tasks, leases, annotations, reviews, predictions, events, gold_answers FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON ALL SEQUENCES IN SCHEMA "xschemax4" FROM "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT SELECT ON alembic_version, projects, schemas, items, annotators, tasks, leases, annotations, reviews, predictions TO "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT SELECT ON alembic_version, projects, schemas, items, annotators, tasks, leases, annotations, reviews, predictions, events, gold_answers TO "xprefixx4_admin"
-- labelnb statement --
GRANT INSERT ON projects, schemas, items, annotators, tasks, leases, annotations, reviews, predictions, events, gold_answers TO "xprefixx4_admin"
-- labelnb statement --
GRANT UPDATE ON projects, tasks, annotators TO "xprefixx4_admin"
-- labelnb statement --
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "xschemax4" TO "xprefixx4_admin"
-- labelnb statement --
ALTER TABLE projects ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE schemas ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE items ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE annotators ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE leases ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE annotations ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE reviews ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE predictions ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE events ENABLE ROW LEVEL SECURITY
-- labelnb statement --
ALTER TABLE gold_answers ENABLE ROW LEVEL SECURITY
-- labelnb statement --

DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT policyname, tablename FROM pg_policies
           WHERE schemaname = 'xschemax4' AND policyname LIKE 'labelnb\_%' LOOP
    EXECUTE format('DROP POLICY %I ON %I.%I', p.policyname, 'xschemax4', p.tablename);
  END LOOP;
END $$;

-- labelnb statement --
CREATE POLICY labelnb_admin ON projects TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON schemas TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON items TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON annotators TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON tasks TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON leases TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON annotations TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON reviews TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON predictions TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON events TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_admin ON gold_answers TO "xprefixx4_admin" USING (true) WITH CHECK (true)
-- labelnb statement --
CREATE POLICY labelnb_member ON projects FOR SELECT TO "xprefixx4_reviewer", "xprefixx4_annotator" USING (EXISTS (SELECT 1 FROM annotators AS me WHERE me.project_id = projects.id
      AND me.name = session_user::text AND me.active))
-- labelnb statement --
CREATE POLICY labelnb_member ON schemas FOR SELECT TO "xprefixx4_reviewer", "xprefixx4_annotator" USING (EXISTS (SELECT 1 FROM annotators AS me WHERE me.project_id = schemas.project_id
      AND me.name = session_user::text AND me.active))
-- labelnb statement --
CREATE POLICY labelnb_member ON items FOR SELECT TO "xprefixx4_reviewer", "xprefixx4_annotator" USING (EXISTS (SELECT 1 FROM annotators AS me WHERE me.project_id = items.project_id
      AND me.name = session_user::text AND me.active))
-- labelnb statement --
CREATE POLICY labelnb_member ON annotators FOR SELECT TO "xprefixx4_reviewer", "xprefixx4_annotator" USING (name = session_user::text)
-- labelnb statement --
CREATE POLICY labelnb_member ON tasks FOR SELECT TO "xprefixx4_reviewer", "xprefixx4_annotator" USING (assignee = session_user::text)
-- labelnb statement --
CREATE POLICY labelnb_member ON leases FOR SELECT TO "xprefixx4_reviewer", "xprefixx4_annotator" USING (annotator = session_user::text)
-- labelnb statement --
CREATE POLICY labelnb_member ON annotations FOR SELECT TO "xprefixx4_reviewer", "xprefixx4_annotator" USING (author = session_user::text OR EXISTS (SELECT 1 FROM tasks AS seen WHERE seen.item_id = annotations.item_id
      AND seen.assignee = session_user::text
      AND ((seen.stage = 'annotate' AND seen.status = 'done')
           OR (seen.stage IN ('review', 'adjudicate') AND seen.status IN ('leased', 'done')))))
-- labelnb statement --
CREATE POLICY labelnb_member ON reviews FOR SELECT TO "xprefixx4_reviewer", "xprefixx4_annotator" USING (reviewer = session_user::text OR EXISTS (SELECT 1 FROM annotations AS mine
      WHERE mine.id = reviews.annotation_id AND mine.author = session_user::text))
-- labelnb statement --
CREATE POLICY labelnb_member ON predictions FOR SELECT TO "xprefixx4_reviewer", "xprefixx4_annotator" USING (EXISTS (SELECT 1 FROM annotators AS me WHERE me.project_id = predictions.project_id
      AND me.name = session_user::text AND me.active)
      AND (NOT coalesce((SELECT (pr.settings ->> 'hide_predictions')::boolean FROM projects AS pr
                         WHERE pr.id = predictions.project_id), false)
           OR EXISTS (SELECT 1 FROM tasks AS seen WHERE seen.item_id = predictions.item_id
      AND seen.assignee = session_user::text
      AND ((seen.stage = 'annotate' AND seen.status = 'done')
           OR (seen.stage IN ('review', 'adjudicate') AND seen.status IN ('leased', 'done'))))))
-- labelnb statement --

CREATE OR REPLACE FUNCTION labelnb_team_info() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
  SELECT jsonb_build_object(
    'version', 4, 'prefix', 'xprefixx4', 'user', session_user::text,
    'role', CASE
      WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user
                   AND (rolsuper OR rolbypassrls)) THEN 'owner'
      WHEN pg_has_role(session_user, (SELECT tableowner FROM pg_tables
                       WHERE schemaname = 'xschemax4' AND tablename = 'tasks'), 'USAGE')
        THEN 'owner'
      WHEN pg_has_role(session_user, 'xprefixx4_admin', 'USAGE') THEN 'admin'
      WHEN pg_has_role(session_user, 'xprefixx4_reviewer', 'USAGE') THEN 'reviewer'
      WHEN pg_has_role(session_user, 'xprefixx4_annotator', 'USAGE') THEN 'annotator'
    END)
$$;

CREATE OR REPLACE FUNCTION labelnb_require_admin() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
BEGIN
  IF NOT (pg_has_role(session_user, 'xprefixx4_admin', 'USAGE')
          OR pg_has_role(session_user, (SELECT tableowner FROM pg_tables
                         WHERE schemaname = 'xschemax4' AND tablename = 'tasks'), 'USAGE'))
  THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('database user %s is not a labelnb admin', quote_ident(session_user)),
      HINT = 'only members of the admin group (leads) may do this';
  END IF;
END $$;

-- Called when a lease operation matched nothing: a task that does not exist, or a
-- lease presented by someone who does not hold it, is refused; anything else (a lease
-- that ran out or was replaced) is left to the caller to report as stale.
CREATE OR REPLACE FUNCTION labelnb_check_lease(p_task bigint, p_token text, p_me text)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
DECLARE
  v record;
BEGIN
  SELECT t.assignee, t.lease_token INTO v FROM tasks AS t WHERE t.id = p_task;
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
END $$;

-- labelnb statement --

CREATE OR REPLACE FUNCTION labelnb_claim(p_project bigint, p_stage text, p_token text)
RETURNS TABLE (o_id bigint, o_item_id bigint, o_stage varchar, o_target varchar,
               o_author varchar, o_slot integer, o_media varchar, o_uri text, o_text text,
               o_width integer, o_height integer, o_group varchar, o_meta jsonb,
               o_old_status varchar, o_old_token varchar, o_old_assignee varchar,
               o_claimed_at timestamptz, o_expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
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
  SELECT an.role::text AS role, an.qualifications, pr.settings,
    CASE WHEN r.pol = 'default'
         THEN ARRAY(SELECT jsonb_array_elements_text(an.qualifications)) END AS quals,
    CASE WHEN r.pol = 'default'
         THEN ARRAY(SELECT jsonb_array_elements_text(an.languages)) END AS langs,
    CASE WHEN r.pol = 'default' THEN NULLIF(ARRAY(
      SELECT sk.key FROM jsonb_each_text(an.skills) AS sk
      WHERE sk.value::double precision < coalesce((r.cfg ->> 'min_label_accuracy')::double
                                                  precision, 0.6)),
      '{}'::text[]) END AS weak,
    CASE WHEN r.pol = 'default' AND best.v IS NOT NULL AND (an.accuracy IS NULL OR an.accuracy
           < least(coalesce((r.cfg ->> 'expert_accuracy')::double precision, 0.85),
                   best.v))
         THEN coalesce((r.cfg ->> 'hard_threshold')::double precision, 0.7)
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
  END IF;
  IF p_stage = 'review' AND NOT (
      (pg_has_role(v_me, 'xprefixx4_reviewer', 'USAGE') OR pg_has_role(v_me, 'xprefixx4_admin', 'USAGE'))
      AND (v_p.role IN ('reviewer', 'lead') OR v_p.qualifications ? 'senior')) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('database user %s may not review in project %s',
                       quote_ident(v_me), p_project),
      HINT = 'reviewing needs the reviewer or lead role: labelnb team role NAME reviewer';
  END IF;
  IF p_stage = 'adjudicate' AND NOT (pg_has_role(v_me, 'xprefixx4_admin', 'USAGE')
                                     OR v_p.qualifications ? 'expert') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('database user %s may not adjudicate in project %s',
                       quote_ident(v_me), p_project),
      HINT = 'adjudication needs the lead role or the expert qualification';
  END IF;
  v_expires := v_now + coalesce((v_p.settings ->> 'lease_ttl_s')::double precision, 600)
                       * interval '1 second';
  v_gold := coalesce((v_p.settings ->> 'gold_rate')::double precision, 0);
  IF p_stage = 'annotate' AND v_gold > 0 AND random() < v_gold THEN
    RETURN QUERY
    WITH g AS (SELECT ga.item_id FROM gold_answers AS ga WHERE ga.project_id = p_project
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
                 'leased', 0.0, 0.0, v_me, p_token, v_now, v_expires, 1, v_now
          FROM g
          RETURNING tasks.id, tasks.item_id, tasks.stage, tasks.target_annotation_id,
                    tasks.author, tasks.slot, tasks.claimed_at, tasks.lease_expires_at),
    ca AS (INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
           SELECT p_project, 'claim', v_me, n.item_id, n.id,
                  jsonb_build_object('stage', n.stage), v_now, v_me FROM n)
    SELECT n.id, n.item_id, n.stage, n.target_annotation_id, n.author, n.slot, items.media, items.uri, items.text, items.width, items.height, items.group_key, items.meta,
           'open'::varchar, NULL::varchar, NULL::varchar, n.claimed_at, n.lease_expires_at
    FROM n JOIN items ON items.id = n.item_id;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  RETURN QUERY
  WITH e AS (SELECT tasks.id, tasks.status, tasks.lease_token, tasks.assignee, tasks.claimed_at, tasks.lease_expires_at FROM tasks WHERE tasks.status = 'leased' AND tasks.lease_expires_at < v_now AND tasks.project_id = p_project AND tasks.stage = p_stage AND NOT v_p.blocked
 AND (tasks.reserved_for IS NULL OR tasks.reserved_for = v_me)
 AND (tasks.author IS NULL OR tasks.author <> v_me)
 AND (tasks.stage <> 'annotate' OR NOT EXISTS (SELECT 1 FROM tasks AS other
      WHERE other.item_id = tasks.item_id AND other.stage = 'annotate'
      AND other.assignee = v_me AND other.id <> tasks.id))
 AND NOT EXISTS (SELECT 1 FROM leases JOIN tasks AS skipped ON skipped.id = leases.task_id
      WHERE leases.item_id = tasks.item_id
      AND leases.annotator = v_me AND leases.outcome = 'skipped'
      AND (leases.task_id = tasks.id
           OR (tasks.stage = 'annotate' AND skipped.stage = 'annotate')))
 AND (tasks.reserved_for = v_me OR ((v_p.quals IS NULL OR tasks.required_skill IS NULL OR tasks.required_skill = ANY(v_p.quals))
 AND (v_p.langs IS NULL OR tasks.language IS NULL OR tasks.language = ANY(v_p.langs))
 AND (v_p.weak IS NULL OR tasks.focus_label IS NULL OR NOT (tasks.focus_label = ANY(v_p.weak)))
 AND (v_p.maxdiff IS NULL OR tasks.difficulty IS NULL OR tasks.difficulty < v_p.maxdiff))) ORDER BY tasks.lease_expires_at, tasks.id LIMIT 1
      FOR UPDATE OF tasks SKIP LOCKED),
 o AS (SELECT tasks.id, tasks.status, tasks.lease_token, tasks.assignee, tasks.claimed_at, tasks.lease_expires_at FROM tasks WHERE NOT EXISTS (SELECT 1 FROM e) AND tasks.status = 'open' AND tasks.project_id = p_project AND tasks.stage = p_stage AND NOT v_p.blocked
 AND (tasks.reserved_for IS NULL OR tasks.reserved_for = v_me)
 AND (tasks.author IS NULL OR tasks.author <> v_me)
 AND (tasks.stage <> 'annotate' OR NOT EXISTS (SELECT 1 FROM tasks AS other
      WHERE other.item_id = tasks.item_id AND other.stage = 'annotate'
      AND other.assignee = v_me AND other.id <> tasks.id))
 AND NOT EXISTS (SELECT 1 FROM leases JOIN tasks AS skipped ON skipped.id = leases.task_id
      WHERE leases.item_id = tasks.item_id
      AND leases.annotator = v_me AND leases.outcome = 'skipped'
      AND (leases.task_id = tasks.id
           OR (tasks.stage = 'annotate' AND skipped.stage = 'annotate')))
 AND (tasks.reserved_for = v_me OR ((v_p.quals IS NULL OR tasks.required_skill IS NULL OR tasks.required_skill = ANY(v_p.quals))
 AND (v_p.langs IS NULL OR tasks.language IS NULL OR tasks.language = ANY(v_p.langs))
 AND (v_p.weak IS NULL OR tasks.focus_label IS NULL OR NOT (tasks.focus_label = ANY(v_p.weak)))
 AND (v_p.maxdiff IS NULL OR tasks.difficulty IS NULL OR tasks.difficulty < v_p.maxdiff))) ORDER BY tasks.priority DESC, tasks.id LIMIT 1
      FOR UPDATE OF tasks SKIP LOCKED),
 c AS (SELECT * FROM e UNION ALL SELECT * FROM o LIMIT 1),
 u AS (UPDATE tasks SET status = 'leased', assignee = v_me, lease_token = p_token, claimed_at = v_now, lease_expires_at = v_expires, attempts = tasks.attempts + 1 FROM c WHERE tasks.id = c.id
       RETURNING tasks.id, tasks.item_id, tasks.stage, tasks.target_annotation_id, tasks.author, tasks.slot, tasks.claimed_at, tasks.lease_expires_at),
 l AS (INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at,
                           ended_at, outcome)
       SELECT c.id, u.item_id, c.assignee, c.lease_token, c.claimed_at, c.lease_expires_at,
              v_now, 'expired' FROM c JOIN u ON u.id = c.id WHERE c.status = 'leased'),
 ev AS (INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at)
       SELECT p_project, 'lease_expired', v_me, u.item_id, u.id,
              jsonb_build_object('token', left(c.lease_token, 8), 'previous', c.assignee), v_now
       FROM c JOIN u ON u.id = c.id WHERE c.status = 'leased'),
 ca AS (INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
       SELECT p_project, 'claim', v_me, u.item_id, u.id, jsonb_build_object('stage', u.stage), v_now,
              v_me
       FROM u)
SELECT u.id, u.item_id, u.stage, u.target_annotation_id, u.author, u.slot, items.media, items.uri, items.text, items.width, items.height, items.group_key, items.meta,
       c.status, c.lease_token, c.assignee, u.claimed_at, u.lease_expires_at
FROM u JOIN c ON c.id = u.id JOIN items ON items.id = u.item_id;
END $$;

CREATE OR REPLACE FUNCTION labelnb_peek(p_project bigint, p_stage text, p_n integer)
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_p record;
BEGIN
  SELECT an.role::text AS role, an.qualifications, pr.settings,
    CASE WHEN r.pol = 'default'
         THEN ARRAY(SELECT jsonb_array_elements_text(an.qualifications)) END AS quals,
    CASE WHEN r.pol = 'default'
         THEN ARRAY(SELECT jsonb_array_elements_text(an.languages)) END AS langs,
    CASE WHEN r.pol = 'default' THEN NULLIF(ARRAY(
      SELECT sk.key FROM jsonb_each_text(an.skills) AS sk
      WHERE sk.value::double precision < coalesce((r.cfg ->> 'min_label_accuracy')::double
                                                  precision, 0.6)),
      '{}'::text[]) END AS weak,
    CASE WHEN r.pol = 'default' AND best.v IS NOT NULL AND (an.accuracy IS NULL OR an.accuracy
           < least(coalesce((r.cfg ->> 'expert_accuracy')::double precision, 0.85),
                   best.v))
         THEN coalesce((r.cfg ->> 'hard_threshold')::double precision, 0.7)
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
  END IF;
  RETURN QUERY
  SELECT tasks.item_id FROM tasks WHERE tasks.status = 'open' AND tasks.project_id = p_project AND tasks.stage = p_stage AND NOT v_p.blocked
 AND (tasks.reserved_for IS NULL OR tasks.reserved_for = v_me)
 AND (tasks.author IS NULL OR tasks.author <> v_me)
 AND (tasks.stage <> 'annotate' OR NOT EXISTS (SELECT 1 FROM tasks AS other
      WHERE other.item_id = tasks.item_id AND other.stage = 'annotate'
      AND other.assignee = v_me AND other.id <> tasks.id))
 AND NOT EXISTS (SELECT 1 FROM leases JOIN tasks AS skipped ON skipped.id = leases.task_id
      WHERE leases.item_id = tasks.item_id
      AND leases.annotator = v_me AND leases.outcome = 'skipped'
      AND (leases.task_id = tasks.id
           OR (tasks.stage = 'annotate' AND skipped.stage = 'annotate')))
 AND (tasks.reserved_for = v_me OR ((v_p.quals IS NULL OR tasks.required_skill IS NULL OR tasks.required_skill = ANY(v_p.quals))
 AND (v_p.langs IS NULL OR tasks.language IS NULL OR tasks.language = ANY(v_p.langs))
 AND (v_p.weak IS NULL OR tasks.focus_label IS NULL OR NOT (tasks.focus_label = ANY(v_p.weak)))
 AND (v_p.maxdiff IS NULL OR tasks.difficulty IS NULL OR tasks.difficulty < v_p.maxdiff))) ORDER BY tasks.priority DESC, tasks.id LIMIT least(greatest(p_n, 1), 50);
END $$;

CREATE OR REPLACE FUNCTION labelnb_heartbeat(p_task bigint, p_token text)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
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
     AND lease_expires_at >= v_now
  RETURNING lease_expires_at INTO v_new;
  IF v_new IS NULL THEN
    PERFORM labelnb_check_lease(p_task, p_token, v_me);
  END IF;
  RETURN v_new;
END $$;

CREATE OR REPLACE FUNCTION labelnb_return(p_task bigint, p_token text, p_outcome text,
                                          p_reason text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v record;
BEGIN
  IF p_outcome IS NULL OR p_outcome NOT IN ('skipped', 'released') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('return: outcome %L; expected skipped or released', p_outcome);
  END IF;
  UPDATE tasks SET status = 'open', assignee = NULL, lease_token = NULL,
         reserved_for = CASE WHEN p_outcome = 'skipped' THEN NULL ELSE reserved_for END
   WHERE id = p_task AND lease_token = p_token AND status = 'leased' AND assignee = v_me
     AND lease_expires_at >= v_now
  RETURNING project_id, item_id, claimed_at, lease_expires_at INTO v;
  IF NOT FOUND THEN
    PERFORM labelnb_check_lease(p_task, p_token, v_me);
    RETURN false;
  END IF;
  INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at, ended_at,
                      outcome)
  VALUES (p_task, v.item_id, v_me, p_token, v.claimed_at, v.lease_expires_at, v_now,
          p_outcome);
  INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at,
                     db_user)
  VALUES (v.project_id, CASE WHEN p_outcome = 'skipped' THEN 'skip' ELSE 'release' END, v_me,
          v.item_id, p_task, CASE WHEN p_reason IS NULL THEN '{}'::jsonb
                                  ELSE jsonb_build_object('reason', p_reason) END, v_now,
          v_me);
  RETURN true;
END $$;

CREATE OR REPLACE FUNCTION labelnb_submit(
    p_task bigint, p_token text, p_id text, p_regions jsonb, p_created_at timestamptz,
    p_duration_s double precision, p_client_id text, p_meta jsonb, p_model_version text,
    p_schema_version integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_n bigint;
BEGIN
  -- one statement, like the client-side submit: finish the lease, store the annotation
  -- (the database, not the client, says who wrote it, from what, and what it corrects),
  -- log the lease, sample the review here too (nobody can opt out of it), audit
  WITH f AS (
    UPDATE tasks SET status = 'done', done_at = v_now, lease_token = NULL, reserved_for = NULL
      FROM projects AS pr
     WHERE tasks.id = p_task AND tasks.lease_token = p_token AND tasks.status = 'leased'
       AND tasks.assignee = v_me AND tasks.lease_expires_at >= v_now
       AND tasks.stage IN ('annotate', 'adjudicate') AND pr.id = tasks.project_id
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
        WHERE f.frac >= 1 OR (f.frac > 0 AND ('x' || left(encode(sha256(convert_to(
                p_id, 'UTF8')), 'hex'), 8))::bit(32)::bigint / 4294967295.0 < f.frac)),
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
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v record;
BEGIN
  UPDATE tasks SET status = 'done', done_at = v_now, lease_token = NULL, reserved_for = NULL
   WHERE id = p_task AND lease_token = p_token AND status = 'leased' AND assignee = v_me
     AND lease_expires_at >= v_now AND stage = 'retrain'
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
-- alone); logged as a skip, with the reason
CREATE OR REPLACE FUNCTION labelnb_skip_retraining(p_task bigint, p_token text,
                                                   p_reason text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v record;
BEGIN
  UPDATE tasks SET status = 'done', done_at = v_now, lease_token = NULL
   WHERE id = p_task AND lease_token = p_token AND status = 'leased' AND assignee = v_me
     AND lease_expires_at >= v_now AND stage = 'retrain'
  RETURNING project_id, item_id, claimed_at, lease_expires_at, target_annotation_id INTO v;
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
                    ELSE jsonb_build_object('reason', p_reason) END, v_now, v_me);
  RETURN true;
END $$;

CREATE OR REPLACE FUNCTION labelnb_review(
    p_task bigint, p_token text, p_decision text, p_feedback text, p_correction_id text,
    p_regions jsonb, p_created_at timestamptz, p_duration_s double precision,
    p_schema_version integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
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
  IF p_decision = 'reject' AND v_target.source = 'consensus' THEN
    INSERT INTO tasks (project_id, item_id, stage, slot, status, priority, base_priority,
                       created_at, attempts)
    VALUES (v_t.project_id, v_t.item_id, 'adjudicate', 0, 'open', 5.0, 5.0, v_now, 0);
  ELSIF p_decision = 'reject' AND v_target.task_id IS NOT NULL THEN
    UPDATE tasks SET status = 'open', reserved_for = v_target.author,
           assignee = v_target.author, lease_token = NULL, lease_expires_at = NULL,
           done_at = NULL, target_annotation_id = v_target.id, priority = 10.0,
           base_priority = 10.0
     WHERE id = v_target.task_id;
  END IF;
  RETURN true;
END $$;

-- labelnb statement --

-- Grant the group of each role the person holds in some project of this schema, and
-- revoke the groups they no longer need (groups are cluster-wide; roles per project).
CREATE OR REPLACE FUNCTION labelnb_sync_groups(p_name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
DECLARE
  g record;
BEGIN
  FOR g IN SELECT * FROM (VALUES ('lead', 'xprefixx4_admin'), ('reviewer', 'xprefixx4_reviewer'),
                                 ('annotator', 'xprefixx4_annotator')) AS x(role, grp) LOOP
    IF EXISTS (SELECT 1 FROM annotators AS an WHERE an.name = p_name AND an.active
               AND an.role = g.role) THEN
      EXECUTE format('GRANT %I TO %I', g.grp, p_name);
    ELSIF EXISTS (SELECT 1 FROM pg_auth_members AS m
                  JOIN pg_roles AS gr ON gr.oid = m.roleid
                  JOIN pg_roles AS u ON u.oid = m.member
                  WHERE gr.rolname = g.grp AND u.rolname = p_name) THEN
      EXECUTE format('REVOKE %I FROM %I', g.grp, p_name);
    END IF;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION labelnb_team_add(p_project bigint, p_name text, p_role text,
                                            p_verifier text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_state text;
BEGIN
  PERFORM labelnb_require_admin();
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
                        AND gr.rolname IN ('xprefixx4_admin', 'xprefixx4_reviewer', 'xprefixx4_annotator')) THEN
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
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v_old text;
BEGIN
  PERFORM labelnb_require_admin();
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
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
BEGIN
  PERFORM labelnb_require_admin();
  UPDATE annotators SET active = false, updated_at = v_now
   WHERE project_id = p_project AND name = p_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('%s is not a member of project %s', quote_ident(p_name), p_project);
  END IF;
  PERFORM labelnb_sync_groups(p_name);
  INSERT INTO events (project_id, kind, actor, payload, created_at)
  VALUES (p_project, 'team_member_removed', v_me, jsonb_build_object('name', p_name), v_now);
END $$;

-- The one documented way to remove an annotation: admins only, with a reason, and an
-- event that says who removed what (the trigger below refuses every other way).
CREATE OR REPLACE FUNCTION labelnb_maintenance_delete_annotation(p_id text, p_reason text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "xschemax4", pg_temp AS $$
DECLARE
  v_me text := session_user;
  v_now timestamptz := statement_timestamp();
  v annotations%ROWTYPE;
BEGIN
  PERFORM labelnb_require_admin();
  IF coalesce(btrim(p_reason), '') = '' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = 'maintenance: give the reason for removing the annotation';
  END IF;
  SELECT * INTO v FROM annotations WHERE id = p_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('annotation %s does not exist', p_id);
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

-- labelnb statement --

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

-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_team_info() FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_claim(bigint, text, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_peek(bigint, text, integer) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_heartbeat(bigint, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_return(bigint, text, text, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_submit(bigint, text, text, jsonb, timestamptz, double precision, text, jsonb, text, integer) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_acknowledge(bigint, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_skip_retraining(bigint, text, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_review(bigint, text, text, text, text, jsonb, timestamptz, double precision, integer) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_team_add(bigint, text, text, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_team_set_role(bigint, text, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_team_remove(bigint, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_maintenance_delete_annotation(text, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_check_lease(bigint, text, text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_require_admin() FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_sync_groups(text) FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_events_stamp() FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
REVOKE ALL ON FUNCTION labelnb_append_only() FROM PUBLIC, "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_team_info() TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_claim(bigint, text, text) TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_peek(bigint, text, integer) TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_heartbeat(bigint, text) TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_return(bigint, text, text, text) TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_submit(bigint, text, text, jsonb, timestamptz, double precision, text, jsonb, text, integer) TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_acknowledge(bigint, text) TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_skip_retraining(bigint, text, text) TO "xprefixx4_admin", "xprefixx4_reviewer", "xprefixx4_annotator"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_review(bigint, text, text, text, text, jsonb, timestamptz, double precision, integer) TO "xprefixx4_admin", "xprefixx4_reviewer"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_team_add(bigint, text, text, text) TO "xprefixx4_admin"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_team_set_role(bigint, text, text) TO "xprefixx4_admin"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_team_remove(bigint, text) TO "xprefixx4_admin"
-- labelnb statement --
GRANT EXECUTE ON FUNCTION labelnb_maintenance_delete_annotation(text, text) TO "xprefixx4_admin"
