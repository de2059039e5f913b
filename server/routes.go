package server

import "net/http"

// route is one operation of the API: every handler is registered from
// this table, and the OpenAPI document is checked against it.
type route struct {
	method string
	path   string // a net/http pattern path, like /v1/jobs/{id}
	role   Role   // the least role that may call it
	// query lists the query parameters the handler reads (any other is a
	// 400); the OpenAPI document must list the same.
	query  []string
	handle func(w http.ResponseWriter, r *http.Request) error
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// routeTable is every route of the API.
func (s *Server) routeTable() []route {
	const get, post, patch, del = http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
	return []route{
		{method: get, path: "/healthz", role: rolePublic, handle: s.healthz},
		{method: get, path: "/readyz", role: rolePublic, handle: s.readyz},
		{method: get, path: "/metrics", role: RoleRead, handle: s.serveMetrics},
		{method: get, path: "/v1/openapi.json", role: rolePublic, handle: s.openAPI},

		{method: post, path: "/v1/jobs", role: RoleWrite, handle: s.enqueue},
		{method: post, path: "/v1/jobs/batch", role: RoleWrite, handle: s.enqueueBatch},
		{method: get, path: "/v1/jobs", role: RoleRead, query: listQuery(), handle: s.listJobs},
		{method: get, path: "/v1/jobs/{id}", role: RoleRead, handle: s.getJob},
		{method: post, path: "/v1/jobs/{id}/abort", role: RoleWrite, handle: s.abortJob},
		{method: post, path: "/v1/jobs/abort", role: RoleWrite, handle: s.abortByKey},
		{method: post, path: "/v1/jobs/{id}/retry", role: RoleWrite, handle: s.jobAction(s.client.Retry)},
		{method: post, path: "/v1/jobs/{id}/release", role: RoleWrite, handle: s.jobAction(s.client.Release)},
		{method: post, path: "/v1/jobs/{id}/complete", role: RoleWrite, handle: s.completeJob},
		{method: post, path: "/v1/jobs/{id}/fail", role: RoleWrite, handle: s.failJob},
		{method: del, path: "/v1/jobs/{id}", role: RoleAdmin, handle: s.jobAction(s.client.Delete)},

		{method: get, path: "/v1/queues", role: RoleRead, handle: s.listQueues},
		{method: patch, path: "/v1/queues/{name}", role: RoleAdmin, handle: s.updateQueue},
		{method: post, path: "/v1/queues/{name}/pause", role: RoleWrite, handle: s.pauseQueue(true)},
		{method: post, path: "/v1/queues/{name}/resume", role: RoleWrite, handle: s.pauseQueue(false)},
		{method: post, path: "/v1/queues/{name}/pop", role: RoleWrite, handle: s.pop},
		{method: post, path: "/v1/queues/{name}/push", role: RoleWrite, handle: s.push},

		{method: post, path: "/v1/leases", role: RoleWrite, handle: s.lease},
		{method: post, path: "/v1/leases/heartbeat", role: RoleWrite, handle: s.heartbeat},
		{method: post, path: "/v1/leases/complete", role: RoleWrite, handle: s.completeLease},
		{method: post, path: "/v1/leases/fail", role: RoleWrite, handle: s.failLease},
		{method: post, path: "/v1/leases/snooze", role: RoleWrite, handle: s.snoozeLease},
		{method: post, path: "/v1/leases/complete/batch", role: RoleWrite, handle: s.completeLeases},

		{method: get, path: "/v1/stats", role: RoleRead, query: statsQuery(), handle: s.stats},
		{method: get, path: "/v1/nodes", role: RoleRead, handle: s.nodes},
		{method: get, path: "/v1/kinds", role: RoleRead, handle: s.kinds},

		{method: get, path: "/v1/events", role: RoleRead, query: eventsQuery(), handle: s.events},
		// Schedules.
		{method: post, path: "/v1/schedules", role: RoleWrite, handle: s.createSchedule},
		{method: get, path: "/v1/schedules", role: RoleRead, query: scheduleListQuery(), handle: s.listSchedules},
		{method: get, path: "/v1/schedules/{key}", role: RoleRead, handle: s.getSchedule},
		{method: patch, path: "/v1/schedules/{key}", role: RoleWrite, handle: s.updateSchedule},
		{method: del, path: "/v1/schedules/{key}", role: RoleAdmin, handle: scheduleAction(s.deleteSchedule)},
		{method: post, path: "/v1/schedules/{key}/enable", role: RoleWrite, handle: scheduleAction(s.enableSchedule)},
		{method: post, path: "/v1/schedules/{key}/disable", role: RoleWrite, handle: scheduleAction(s.disableSchedule)},
		{method: get, path: "/v1/schedule-preview", role: RoleRead, query: schedulePreviewQuery(), handle: s.previewSchedule},
	}
}
