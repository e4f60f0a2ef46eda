"""Offline replay of the OpenAlex, arXiv and PubMed APIs from recorded responses.

``make demo`` and the end-to-end tests run the unchanged source clients against
``replay_transport(...)`` instead of the internet. What is served:

* OpenAlex ``/works``: one list page *constructed around the real recorded work*
  ``W2741809807`` (the envelope ``meta`` is built here, ``next_cursor`` is null; the
  record's bytes are embedded verbatim). Any other cursor gets an empty page.
* arXiv ``/api/query``: the recorded feeds in turn, keyed by ``start`` (the 10-entry
  ``search_query=testing`` page at 0, then the 1-entry del_maestro feed), and a
  constructed empty feed beyond them. ``id_list=…`` gets the recorded HTTP 400 error feed.
* PubMed ``esearch.fcgi``: the recorded ESearch answer *adapted* to the recorded
  EFetch file: Count is set to its number of articles, RetMax to 0 and IdList
  emptied (as ``retmax=0`` does); WebEnv/QueryKey are the recorded ones. A term
  containing ``abcXYZ`` gets the recorded empty answer (Count 0, ErrorList).
  ``efetch.fcgi`` with that WebEnv/query_key and ``retstart=0`` returns the recorded
  EFetch file (whatever ``retmax`` asks), a constructed empty set past its end.

Window filters and queries are not applied: the recordings are served whatever is
asked. Anything else is answered 404 naming the request.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import orjson

RECORDINGS = Path(__file__).resolve().parent / "recordings"
"""Package data (provenance in recordings/SOURCES.md), so the image can replay them too."""

_EMPTY_FEED = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
    'xmlns="http://www.w3.org/2005/Atom">\n'
    "  <id>replay:no-more-recorded-entries</id>\n"
    "  <title>arXiv Query (replay: no more recorded entries)</title>\n"
    "  <opensearch:totalResults>{total}</opensearch:totalResults>\n"
    "  <opensearch:startIndex>{start}</opensearch:startIndex>\n"
    "  <opensearch:itemsPerPage>0</opensearch:itemsPerPage>\n"
    "</feed>\n"
)
_EMPTY_ARTICLE_SET = b'<?xml version="1.0" ?>\n<PubmedArticleSet></PubmedArticleSet>\n'


def replay_transport(fixtures_dir: Path = RECORDINGS) -> httpx.MockTransport:
    """A transport answering the three literature APIs from ``fixtures_dir``."""
    openalex_work = (fixtures_dir / "openalex" / "W2741809807.json").read_bytes().strip()
    arxiv_feeds = _arxiv_feeds(fixtures_dir / "arxiv")
    arxiv_error = orjson.loads((fixtures_dir / "arxiv" / "id_abc_s0_m100_b79c8dcf6bc3.json").read_bytes())
    efetch = (fixtures_dir / "pubmed" / "pubmed2.xml").read_bytes()
    articles = efetch.count(b"<PubmedArticle>")
    esearch_empty = (fixtures_dir / "pubmed" / "esearch8.xml").read_bytes()
    esearch = (fixtures_dir / "pubmed" / "esearch2.xml").read_bytes()
    webenv = re.search(rb"<WebEnv>([^<]+)</WebEnv>", esearch).group(1).decode()
    query_key = re.search(rb"<QueryKey>([^<]+)</QueryKey>", esearch).group(1).decode()
    esearch = re.sub(rb"<Count>\d+</Count>", b"<Count>%d</Count>" % articles, esearch, count=1)
    esearch = re.sub(rb"<RetMax>\d+</RetMax>", b"<RetMax>0</RetMax>", esearch, count=1)
    esearch = re.sub(rb"<IdList>.*?</IdList>", b"<IdList/>", esearch, count=1, flags=re.S)

    def openalex(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        results = openalex_work if params.get("cursor", "*") == "*" else b""
        meta = {
            "count": 1 if results else 0,
            "db_response_time_ms": 0,
            "page": None,
            "per_page": int(params.get("per_page", 25)),
            "next_cursor": None,
            "groups_count": None,
        }
        body = b'{"meta":%s,"results":[%s],"group_by":[]}' % (orjson.dumps(meta), results)
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    def arxiv(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params.get("id_list"):
            return httpx.Response(arxiv_error["status_code"], content=arxiv_error["body"].encode(),
                                  headers={"Content-Type": "application/atom+xml"})
        start = int(params.get("start", 0))
        offset = 0
        for body, entries in arxiv_feeds:
            if start == offset:
                return _atom(body)
            offset += entries
        if start >= offset:
            return _atom(_EMPTY_FEED.format(total=offset, start=start).encode())
        return _not_found(request, f"no recorded arXiv feed starts at {start}")

    def pubmed(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params.get("db") != "pubmed":
            return _not_found(request, "only db=pubmed is recorded")
        if request.url.path.endswith("/esearch.fcgi"):
            body = esearch_empty if "abcXYZ" in params.get("term", "") else esearch
            return _xml(200, body)
        if params.get("WebEnv") != webenv or params.get("query_key") != query_key:
            return _xml(400, b"<eFetchResult><ERROR>Unknown WebEnv or query_key (replay)"
                             b"</ERROR></eFetchResult>")
        retstart = int(params.get("retstart", 0))
        if retstart == 0:
            return _xml(200, efetch)
        if retstart >= articles:
            return _xml(200, _EMPTY_ARTICLE_SET)
        return _not_found(request, f"no recorded EFetch batch starts at {retstart}")

    routes = {
        ("api.openalex.org", "/works"): openalex,
        ("export.arxiv.org", "/api/query"): arxiv,
        ("eutils.ncbi.nlm.nih.gov", "/entrez/eutils/esearch.fcgi"): pubmed,
        ("eutils.ncbi.nlm.nih.gov", "/entrez/eutils/efetch.fcgi"): pubmed,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        route = routes.get((request.url.host, request.url.path))
        if request.method != "GET" or route is None:
            return _not_found(request, "no recording for this request")
        return route(request)

    return httpx.MockTransport(handler)


def _arxiv_feeds(folder: Path) -> list[tuple[bytes, int]]:
    """The recorded feeds in serving order, with their entry counts."""
    page2 = orjson.loads((folder / "q_testing_s10_m10_34e56e15aaac.json").read_bytes())
    feeds = [page2["body"].encode(), (folder / "del_maestro_checkerboard.xml").read_bytes()]
    return [(body, body.count(b"<entry>")) for body in feeds]


def _atom(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": "application/atom+xml"})


def _xml(status: int, body: bytes) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"Content-Type": "text/xml"})


def _not_found(request: httpx.Request, why: str) -> httpx.Response:
    return httpx.Response(404, text=f"replay: {why}: {request.method} {request.url.path}")
