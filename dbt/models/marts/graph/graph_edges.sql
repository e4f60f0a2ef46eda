{{ config(materialized='table') }}

-- One row per relationship of the knowledge graph. document_id is the document whose
-- row states the edge: the loader replaces a document's edges when that row changes.
with documents as (
    select document_id, source, source_id, updated_at, authors, venue, topics, referenced_ids
    from {{ ref('scientific_documents') }}
),

-- A cited work is matched to a document of the corpus by its canonical id, or by the
-- source's own id (OpenAlex cites as openalex:W…, the work may be stored as doi:…).
aliases as (
    select document_id as alias_id, document_id from documents
    union
    select source || ':' || source_id as alias_id, document_id from documents
),

authored as (
    select
        'AUTHORED' as edge_type,
        'Author' as source_label,
        {{ graph_author_key('d.source', graph_field('a', 'name'), graph_field('a', 'orcid'), graph_field('a', 'id')) }} as source_key,
        'Work' as target_label,
        d.document_id as target_key,
        d.document_id,
        cast(a.position as integer) as position
    from documents as d
    {{ graph_unnest('d.authors', 'a') }}
),

cites as (
    select
        'CITES' as edge_type,
        'Work' as source_label,
        d.document_id as source_key,
        'Work' as target_label,
        coalesce(cited.document_id, {{ graph_text('r') }}) as target_key,
        d.document_id,
        cast(null as integer) as position
    from documents as d
    {{ graph_unnest('d.referenced_ids', 'r') }}
    left join aliases as cited on cited.alias_id = {{ graph_text('r') }}
),

published_in as (
    select
        'PUBLISHED_IN' as edge_type,
        'Work' as source_label,
        document_id as source_key,
        'Venue' as target_label,
        {{ graph_name_key('venue') }} as target_key,
        document_id,
        cast(null as integer) as position
    from documents
),

has_topic as (
    select
        'HAS_TOPIC' as edge_type,
        'Work' as source_label,
        d.document_id as source_key,
        'Topic' as target_label,
        {{ graph_name_key(graph_text('t')) }} as target_key,
        d.document_id,
        cast(null as integer) as position
    from documents as d
    {{ graph_unnest('d.topics', 't') }}
),

unioned as (
    select * from authored
    union all
    select * from cites
    union all
    select * from published_in
    union all
    select * from has_topic
),

-- An author listed twice on one paper, or a topic repeated, is one edge (first position).
final as (
    select
        edge_type || '|' || source_label || ':' || source_key || '|' || target_label || ':' || target_key as edge_id,
        edge_type,
        source_label || ':' || source_key as source_node_id,
        target_label || ':' || target_key as target_node_id,
        source_label,
        source_key,
        target_label,
        target_key,
        document_id,
        min(position) as position
    from unioned
    where source_key is not null
      and target_key is not null
      and not (edge_type = 'CITES' and source_key = target_key)
    group by edge_type, source_label, source_key, target_label, target_key, document_id
)

select * from final
