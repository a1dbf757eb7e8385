# SPDX-License-Identifier: Apache-2.0
"""The two vocabularies one model is spoken in: Mitaka's bays and baymodels, and today's
clusters and cluster templates. Errors name things in the words of the API that was asked."""

from __future__ import annotations

import dataclasses

from magnum.common import exceptions


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Nouns:
    """How one resource is named in errors: `kind` in "Multiple {kind}s exist ...", and the
    NotFound subclass (one field) raised for an ident that finds nothing."""

    kind: str
    not_found: type[exceptions.NotFound]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Vocabulary:
    cluster: Nouns
    template: Nouns
    # "bay" or "cluster", in sentences such as 'Updating a bay when status is ...'
    word: str
    in_progress: type[exceptions.OperationInProgress]
    referenced: type[exceptions.ClusterTemplateReferenced]
    template_exists: type[exceptions.ClusterTemplateAlreadyExists]
    publish_denied: type[exceptions.ClusterTemplatePublishDenied]


CLUSTER = Vocabulary(
    cluster=Nouns(kind="cluster", not_found=exceptions.ClusterNotFound),
    template=Nouns(kind="clustertemplate", not_found=exceptions.ClusterTemplateNotFound),
    word="cluster",
    in_progress=exceptions.OperationInProgress,
    referenced=exceptions.ClusterTemplateReferenced,
    template_exists=exceptions.ClusterTemplateAlreadyExists,
    publish_denied=exceptions.ClusterTemplatePublishDenied,
)
BAY = Vocabulary(
    cluster=Nouns(kind="bay", not_found=exceptions.BayNotFound),
    template=Nouns(kind="baymodel", not_found=exceptions.BayModelNotFound),
    word="bay",
    in_progress=exceptions.BayOperationInProgress,
    referenced=exceptions.BayModelReferenced,
    template_exists=exceptions.BayModelAlreadyExists,
    publish_denied=exceptions.BaymodelPublishDenied,
)
CONTAINER = Nouns(kind="container", not_found=exceptions.ContainerNotFound)
