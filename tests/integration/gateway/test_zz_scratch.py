import requests
def test_explore(ocx_env):
    for cloud in ("home", "sp1", "sp2"):
        c = ocx_env.connect(cloud)
        print(cloud, "images", [(i.name, i.visibility) for i in c.image.images()])
        print(cloud, "nets", [n.name for n in c.network.networks()])
        print(cloud, "sgs", [(n.name, n.id) for n in c.network.security_groups()])
        print(cloud, "subnets", [n.name for n in c.network.subnets()])
        print(cloud, "volumes", [n.name for n in c.block_storage.volumes()])
        print(cloud, "keypairs", [n.name for n in c.compute.keypairs()])
        print(cloud, "project", c.current_project_id)
    o = ocx_env.connect("ocx")
    print("ocx sgs", [(n.name, n.id) for n in o.network.security_groups()])
    print("ocx images", [(i.name) for i in o.image.images()])
    print("ocx flavors", [(i.name) for i in o.compute.flavors()])
    print(ocx_env.calls("sp1"))
