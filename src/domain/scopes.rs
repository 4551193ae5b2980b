//! API token scopes: any token may read; creating or updating a resource needs
//! `<resource>:create`, deleting needs `<resource>:delete`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Projects,
    Servers,
    Environments,
    Hooks,
    Deployments,
    Heartbeats,
    Collaborators,
    Notifications,
}

impl Resource {
    pub const ALL: [Resource; 8] = [
        Resource::Projects,
        Resource::Servers,
        Resource::Environments,
        Resource::Hooks,
        Resource::Deployments,
        Resource::Heartbeats,
        Resource::Collaborators,
        Resource::Notifications,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Projects => "projects",
            Resource::Servers => "servers",
            Resource::Environments => "environments",
            Resource::Hooks => "hooks",
            Resource::Deployments => "deployments",
            Resource::Heartbeats => "heartbeats",
            Resource::Collaborators => "collaborators",
            Resource::Notifications => "notifications",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ability {
    Create,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    pub resource: Resource,
    pub ability: Ability,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ability = match self.ability {
            Ability::Create => "create",
            Ability::Delete => "delete",
        };
        write!(f, "{}:{ability}", self.resource.as_str())
    }
}

impl Scope {
    pub fn create(resource: Resource) -> Scope {
        Scope {
            resource,
            ability: Ability::Create,
        }
    }

    pub fn delete(resource: Resource) -> Scope {
        Scope {
            resource,
            ability: Ability::Delete,
        }
    }

    pub fn all() -> Vec<Scope> {
        Resource::ALL
            .iter()
            .flat_map(|r| [Scope::create(*r), Scope::delete(*r)])
            .collect()
    }

    pub fn parse(text: &str) -> Option<Scope> {
        let (resource, ability) = text.split_once(':')?;
        let resource = Resource::ALL.into_iter().find(|r| r.as_str() == resource)?;
        let ability = match ability {
            "create" => Ability::Create,
            "delete" => Ability::Delete,
            _ => return None,
        };
        Some(Scope { resource, ability })
    }
}

/// A token's scopes, stored as a space-separated list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn new(mut scopes: Vec<Scope>) -> Scopes {
        scopes.sort_by_key(|s| s.to_string());
        scopes.dedup();
        Scopes(scopes)
    }

    pub fn all() -> Scopes {
        Scopes::new(Scope::all())
    }

    /// Parses `*`, or a comma- or space-separated list of scopes. An unknown scope is an error
    /// naming it.
    pub fn parse_list(text: &str) -> Result<Scopes, String> {
        let mut scopes = Vec::new();
        for part in text
            .split([',', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if part == "*" {
                return Ok(Scopes::all());
            }
            scopes.push(Scope::parse(part).ok_or_else(|| format!("unknown scope `{part}`"))?);
        }
        Ok(Scopes::new(scopes))
    }

    /// Reads the stored form; unknown entries (from a newer version) are skipped.
    pub fn from_stored(text: &str) -> Scopes {
        Scopes::new(text.split(' ').filter_map(Scope::parse).collect())
    }

    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_wildcard() {
        let scopes = Scopes::parse_list("projects:create, servers:delete").unwrap();
        assert!(scopes.allows(Scope::create(Resource::Projects)));
        assert!(scopes.allows(Scope::delete(Resource::Servers)));
        assert!(!scopes.allows(Scope::delete(Resource::Projects)));
        assert_eq!(Scopes::parse_list("*").unwrap(), Scopes::all());
        assert!(Scopes::parse_list("projects:eat").is_err());
        let stored = scopes.to_stored();
        assert_eq!(Scopes::from_stored(&stored), scopes);
    }
}
